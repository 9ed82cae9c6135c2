use crate::{
    api::board::SignIn,
    error::AppError,
    i18n::{t, t_string, use_i18n},
};
use leptos::{prelude::*, server_fn::ServerFn};
use leptos_router::hooks::use_navigate;

/// Sign-in form; a plain form post without JavaScript, a server action with it.
///
/// The form is written out rather than an `ActionForm`: that one reads its arguments back
/// from the form's fields with a query-string decoder (`serde_qs`), which would be in the
/// main browser bundle for this page alone; the two fields are read directly instead.
#[component]
pub fn LoginPage() -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<SignIn>::new();
    let username = NodeRef::<leptos::html::Input>::new();
    let password = NodeRef::<leptos::html::Input>::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let value_of = |field: NodeRef<leptos::html::Input>| {
            field
                .get_untracked()
                .map(|input| input.value())
                .unwrap_or_default()
        };
        action.dispatch(SignIn {
            username: value_of(username),
            password: value_of(password),
        });
    };
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get() {
            navigate("/", Default::default());
        }
    });
    view! {
        <section class="login" aria-labelledby="login-title">
            <h1 id="login-title">{t!(i18n, sign_in_title)}</h1>
            <form action=SignIn::url() method="post" on:submit=submit>
                <label>
                    {t!(i18n, username)}
                    <input
                        type="text"
                        name="username"
                        autocomplete="username"
                        required
                        node_ref=username
                    />
                </label>
                <label>
                    {t!(i18n, password)}
                    <input
                        type="password"
                        name="password"
                        autocomplete="current-password"
                        required
                        node_ref=password
                    />
                </label>
                <button type="submit" class="primary" data-testid="sign-in">
                    {t!(i18n, sign_in)}
                </button>
            </form>
            {move || {
                action
                    .value()
                    .get()
                    .and_then(Result::err)
                    .map(|e| {
                        // Refused credentials are the one "unauthorized" this page can get.
                        let text = match e {
                            AppError::Unauthorized { .. } => {
                                t_string!(i18n, error_wrong_credentials).to_owned()
                            }
                            other => crate::ui::error_text(i18n.get_locale(), &other),
                        };
                        view! { <p class="error" role="alert">{text}</p> }
                    })
            }}
        </section>
    }
}
