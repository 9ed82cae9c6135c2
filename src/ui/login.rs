use crate::api::board::SignIn;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

/// Sign-in form; a plain form post without JavaScript, a server action with it.
#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get() {
            navigate("/", Default::default());
        }
    });
    view! {
        <section class="login" aria-labelledby="login-title">
            <h1 id="login-title">"Sign in"</h1>
            <ActionForm action=action>
                <label>
                    "Username"
                    <input type="text" name="username" autocomplete="username" required/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required/>
                </label>
                <button type="submit" class="primary" data-testid="sign-in">"Sign in"</button>
            </ActionForm>
            {move || {
                action
                    .value()
                    .get()
                    .and_then(Result::err)
                    .map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })
            }}
        </section>
    }
}
