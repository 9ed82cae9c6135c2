//! Accounts: create teachers and admins, set a new password, deactivate or reactivate, and
//! unlock an account locked after too many wrong passwords.

use super::{AdminTabs, Outcome};
use crate::i18n::{t, t_string, use_i18n};
use crate::{
    api::admin::{CreateAccount, LiftSignInLock, ResetPassword, SetAccountActive, accounts},
    model::{Role, SignInLock, UserInfo},
};
use leptos::prelude::*;

/// Shows each action's result in `outcome`; answers with the action's version so lists
/// reload after a write.
pub(super) fn report<T: Clone + Send + Sync + 'static, A>(
    action: ServerAction<A>,
    outcome: RwSignal<Option<Result<String, String>>>,
    done: impl Fn(&T) -> String + Send + Sync + 'static,
) where
    A: leptos::server_fn::ServerFn<Output = T, Error = crate::error::AppError>
        + Clone
        + Send
        + Sync
        + 'static,
{
    let i18n = use_i18n();
    Effect::new(move |_| {
        if let Some(result) = action.value().get() {
            let failed =
                |e: &crate::error::AppError| crate::ui::error_text(i18n.get_locale_untracked(), e);
            outcome.set(Some(result.as_ref().map(&done).map_err(failed)));
        }
    });
}

#[component]
pub fn AccountsPage() -> impl IntoView {
    let i18n = use_i18n();
    let create = ServerAction::<CreateAccount>::new();
    let reset = ServerAction::<ResetPassword>::new();
    let set_active = ServerAction::<SetAccountActive>::new();
    let lift = ServerAction::<LiftSignInLock>::new();
    let outcome = RwSignal::new(None);
    report(create, outcome, move |user: &UserInfo| {
        format!("{} ✓", user.username)
    });
    report(reset, outcome, move |_: &()| {
        t_string!(i18n, password_set).to_owned()
    });
    report(set_active, outcome, move |_: &()| {
        t_string!(i18n, saved).to_owned()
    });
    report(lift, outcome, move |_: &UserInfo| {
        t_string!(i18n, lock_lifted).to_owned()
    });
    // A new password lifts a sign-in lock too, so every action reloads the list.
    let list = crate::ui::load(
        move || {
            (
                create.version().get(),
                reset.version().get(),
                set_active.version().get(),
                lift.version().get(),
            )
        },
        |_| accounts(),
    );
    view! {
        <AdminTabs/>
        <section aria-labelledby="accounts-title">
            <h1 id="accounts-title">{t!(i18n, accounts_title)}</h1>
            <Outcome message=outcome/>
            {crate::ui::loaded(list, move |accounts| {
                view! {
                    <table class="wide-table" data-testid="accounts">
                        <thead>
                            <tr>
                                <th scope="col">{t!(i18n, username)}</th>
                                <th scope="col">{t!(i18n, name)}</th>
                                <th scope="col">{t!(i18n, role)}</th>
                                <th scope="col">{t!(i18n, active)}</th>
                                <th scope="col">{t!(i18n, sign_in_state)}</th>
                                <th scope="col">{t!(i18n, new_password)}</th>
                                <th scope="col">
                                    <span class="visually-hidden">{t!(i18n, deactivate)}</span>
                                </th>
                            </tr>
                        </thead>
                        <tbody>
                            {accounts
                                .users
                                .into_iter()
                                .map(|user| {
                                    let lock = accounts
                                        .sign_in_locks
                                        .iter()
                                        .find(|lock| lock.user_id == user.id)
                                        .cloned();
                                    view! { <AccountRow user lock reset set_active lift/> }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                }
                    .into_any()
            })}
            <h2>{t!(i18n, create_account)}</h2>
            <ActionForm action=create attr:class="stacked-form" attr:data-testid="create-account">
                <label>
                    {t!(i18n, username)}
                    <input type="text" name="username" required autocomplete="off"/>
                </label>
                <label>
                    {t!(i18n, name)}
                    <input type="text" name="name" required/>
                </label>
                <label>
                    {t!(i18n, password)}
                    <input type="password" name="password" required minlength="8" autocomplete="new-password"/>
                </label>
                <label>
                    {t!(i18n, role)}
                    <select name="role">
                        <option value="teacher">{t!(i18n, teacher)}</option>
                        <option value="admin">{t!(i18n, admin)}</option>
                    </select>
                </label>
                <button type="submit" class="primary">{t!(i18n, create)}</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn AccountRow(
    user: UserInfo,
    lock: Option<SignInLock>,
    reset: ServerAction<ResetPassword>,
    set_active: ServerAction<SetAccountActive>,
    lift: ServerAction<LiftSignInLock>,
) -> impl IntoView {
    let i18n = use_i18n();
    let password = RwSignal::new(String::new());
    let id = user.id.clone();
    let toggle_id = user.id.clone();
    let active = user.active;
    let label_id = format!("password-{}", user.id);
    view! {
        <tr data-user=user.username.clone()>
            <td>{user.username.clone()}</td>
            <td>{user.name}</td>
            <td>
                {match user.role {
                    Role::Teacher => t!(i18n, teacher).into_any(),
                    Role::Admin => t!(i18n, admin).into_any(),
                }}
            </td>
            <td>{if active { t!(i18n, yes).into_any() } else { t!(i18n, no).into_any() }}</td>
            <td>
                {lock
                    .map(|lock| {
                        let failed = lock.failed_attempts;
                        let minutes = lock.retry_after_seconds.div_ceil(60);
                        let user_id = lock.user_id;
                        view! {
                            <span class="sign-in-locked" data-testid="sign-in-locked">
                                // Numbers beside the words rather than interpolated: an
                                // interpolating `t!` costs this lazy page ~16 KB gzip.
                                {t!(i18n, sign_in_locked)}
                                " · "
                                {t!(i18n, wrong_passwords)}
                                " "
                                {failed}
                                " · "
                                {t!(i18n, minutes_left)}
                                " "
                                {minutes}
                            </span>
                            " "
                            <button
                                type="button"
                                data-testid="lift-lock"
                                on:click=move |_| {
                                    lift.dispatch(LiftSignInLock {
                                        user_id: user_id.clone(),
                                    });
                                }
                            >
                                {t!(i18n, lift_lock)}
                            </button>
                        }
                    })}
            </td>
            <td>
                <form
                    class="inline-form"
                    on:submit=move |ev| {
                        ev.prevent_default();
                        reset
                            .dispatch(ResetPassword {
                                user_id: id.clone(),
                                password: password.get_untracked(),
                            });
                        password.set(String::new());
                    }
                >
                    <label class="visually-hidden" for=label_id.clone()>
                        {t!(i18n, new_password)} " " {user.username.clone()}
                    </label>
                    <input
                        id=label_id
                        type="password"
                        autocomplete="new-password"
                        data-testid="new-password"
                        prop:value=move || password.get()
                        on:input=move |ev| password.set(event_target_value(&ev))
                    />
                    <button type="submit" data-testid="set-password">{t!(i18n, set_password)}</button>
                </form>
            </td>
            <td>
                <button
                    type="button"
                    data-testid="toggle-active"
                    on:click=move |_| {
                        set_active
                            .dispatch(SetAccountActive {
                                user_id: toggle_id.clone(),
                                active: !active,
                            });
                    }
                >
                    {if active { t!(i18n, deactivate).into_any() } else { t!(i18n, reactivate).into_any() }}
                </button>
            </td>
        </tr>
    }
}
