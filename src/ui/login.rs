use crate::{
    api::board::SignIn,
    error::AppError,
    i18n::{t, t_string, use_i18n},
};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

/// Sign-in form; a plain form post without JavaScript, a server action with it.
#[component]
pub fn LoginPage() -> impl IntoView {
    let i18n = use_i18n();
    let action = ServerAction::<SignIn>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get() {
            navigate("/", Default::default());
        }
    });
    view! {
        <section class="login" aria-labelledby="login-title">
            <h1 id="login-title">{t!(i18n, sign_in_title)}</h1>
            <ActionForm action=action>
                <label>
                    {t!(i18n, username)}
                    <input type="text" name="username" autocomplete="username" required/>
                </label>
                <label>
                    {t!(i18n, password)}
                    <input type="password" name="password" autocomplete="current-password" required/>
                </label>
                <button type="submit" class="primary" data-testid="sign-in">
                    {t!(i18n, sign_in)}
                </button>
            </ActionForm>
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
