//! Document shell, router and top-level layout.

use crate::{
    api::board::{SignOut, current_user},
    i18n::{I18nContextProvider, Locale, t, use_i18n},
    model::Role,
    ui::{
        admin::{AccountsPage, ClassRosterPage, MonitorPage, RulesPage, SchoolClassesPage},
        board::BoardPage,
        classes::ClassesPage,
        login::LoginPage,
        status::StatusPage,
        student::StudentPage,
    },
};
use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    Lazy, LazyRoute, ParamSegment, SsrMode, StaticSegment,
    components::{Redirect, Route, Router, Routes},
    hooks::use_location,
    lazy_route,
};

/// Declares a page as a lazily loaded route: built with `cargo leptos build --split`, the
/// page's code moves out of the main browser bundle into a chunk fetched when the page is
/// first shown (or hydrated). The pages a teacher opens on every visit (sign-in, the classes,
/// the board) stay in the main bundle: a page's code split into chunks compresses worse than in
/// one bundle, and they would be fetched anyway. Lazy are the pages opened now and then: a
/// student's history, the admin pages and the status page. The pages load their own data, so
/// `data()` has nothing to start.
///
/// A page hydrates only once its chunk has arrived, after the layout around it, so the
/// "page is interactive" marker (`PageHydrated`) is set from inside the page's view.
macro_rules! lazy_page {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(this: Self) -> AnyView {
                let _nothing_to_carry: $route = this;
                shown($page)
            }
        }
    )*};
}

lazy_page! {
    StatusRoute => StatusPage,
    MonitorRoute => MonitorPage,
    AccountsRoute => AccountsPage,
    SchoolClassesRoute => SchoolClassesPage,
    ClassRosterRoute => ClassRosterPage,
    RulesRoute => RulesPage,
    StudentRoute => StudentPage,
}

/// A page's view, marked interactive once it has hydrated.
fn shown<V: IntoView + 'static>(page: impl FnOnce() -> V) -> AnyView {
    mark_hydrated_once_shown();
    page().into_any()
}

/// The HTML document the server renders around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Whether the shown page is interactive: `<main data-hydrated>` carries it, and end-to-end
/// tests wait for it before clicking.
#[derive(Clone, Copy)]
struct PageHydrated(RwSignal<bool>);

/// Effects run only in the browser and after the view that created them has hydrated, so
/// this flips the marker once the page being built is interactive.
fn mark_hydrated_once_shown() {
    if let Some(PageHydrated(hydrated)) = use_context() {
        Effect::new(move |_| hydrated.set(true));
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_context(PageHydrated(RwSignal::new(false)));

    view! {
        <I18nContextProvider cookie_name=LOCALE_COOKIE>
            <Layout/>
        </I18nContextProvider>
    }
}

/// The cookie that keeps the chosen interface language; the server renders pages in it.
const LOCALE_COOKIE: &str = "i18n_pref_locale";

/// Keeps the chosen language for the next page load, for the whole site (`path=/`), a year.
/// Written here rather than by leptos_i18n: its cookie support would put a cookie parser and a
/// date library into the main browser bundle (the server still reads the cookie through it).
#[cfg(feature = "hydrate")]
fn remember_locale(locale: Locale) {
    use leptos_i18n::Locale as _;
    use wasm_bindgen::JsCast;
    let cookie = format!(
        "{LOCALE_COOKIE}={}; path=/; max-age=31536000; samesite=lax",
        locale.as_str()
    );
    // Refused only where cookies are disabled; the switch then lasts until the next load.
    let _ = document()
        .unchecked_into::<web_sys::HtmlDocument>()
        .set_cookie(&cookie);
}

#[cfg(not(feature = "hydrate"))]
fn remember_locale(_: Locale) {}

/// Switches between the two interface languages (the choice is kept in a cookie).
#[component]
fn LanguageSwitch() -> impl IntoView {
    let i18n = use_i18n();
    let toggle = move |_| {
        let next = match i18n.get_locale() {
            Locale::en => Locale::zh_CN,
            Locale::zh_CN => Locale::en,
        };
        i18n.set_locale(next);
        remember_locale(next);
    };
    view! {
        <button type="button" class="link" data-testid="language" on:click=toggle>
            {t!(i18n, language)}
        </button>
    }
}

/// The signed-in user's part of the top bar: their classes, "Admin" for admins, their name
/// (a shared classroom computer shows whose session is open) and sign-out. A visitor who is
/// not signed in sees none of it. Asked again on every navigation, so it appears right after
/// signing in.
#[component]
fn UserNav() -> impl IntoView {
    let i18n = use_i18n();
    let location = use_location();
    let user = crate::ui::load(move || location.pathname.get(), |_| current_user());
    let sign_out_url = <SignOut as ServerFn>::url();
    view! {
        <Transition fallback=|| ()>
            {move || {
                user.get().and_then(Result::ok).flatten().map(|user| {
                    let is_admin = user.role == Role::Admin;
                    view! {
                        <a href="/" data-testid="nav-classes">{t!(i18n, nav_classes)}</a>
                        {is_admin
                            .then(|| {
                                view! {
                                    <a href="/admin/monitor" data-testid="nav-admin">
                                        {t!(i18n, nav_admin)}
                                    </a>
                                }
                            })}
                        <span class="muted" data-testid="signed-in-as">{user.name}</span>
                        // A plain form, posted by the browser with or without the app's code:
                        // signing out ends on a fresh /login page, which drops every page's
                        // cached data of the user who left (and keeps form decoding out of the
                        // main bundle).
                        <form method="post" action=sign_out_url>
                            <button type="submit" class="link" data-testid="sign-out">
                                {t!(i18n, sign_out)}
                            </button>
                        </form>
                    }
                })
            }}
        </Transition>
    }
}

#[component]
fn Layout() -> impl IntoView {
    let i18n = use_i18n();
    let PageHydrated(hydrated) = expect_context();
    // After a click to a lazy page (a student's, admin, status), its code (its chunks) is
    // fetched before it shows; a bar at the top and `aria-busy` say so rather than leaving the
    // old page idle.
    let (is_routing, set_is_routing) = signal(false);
    view! {
        <Stylesheet id="leptos" href="/pkg/classpoints.css"/>
        <Title text="classpoints"/>
        <Router set_is_routing>
            <div
                class="page-loading"
                aria-hidden="true"
                data-testid="page-loading"
                hidden=move || !is_routing.get()
            ></div>
            <header class="topbar">
                <a class="brand" href="/">"classpoints"</a>
                <nav class="topnav">
                    <UserNav/>
                    <LanguageSwitch/>
                </nav>
            </header>
            <main
                data-hydrated=move || hydrated.get().to_string()
                aria-busy=move || is_routing.get().to_string()
            >
                <Routes fallback=move || view! { <p>{t!(i18n, page_not_found)}</p> }>
                    // Pages behind sign-in render once their data is in (SsrMode::Async), so a
                    // visitor who is not signed in gets a real redirect, not a script.
                    <Route path=StaticSegment("") view=|| shown(ClassesPage) ssr=SsrMode::Async/>
                    <Route path=StaticSegment("login") view=|| shown(LoginPage)/>
                    <Route
                        path=(StaticSegment("class"), ParamSegment("id"))
                        view=|| shown(BoardPage)
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("student"), ParamSegment("id"))
                        view={Lazy::<StudentRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("status") view={Lazy::<StatusRoute>::new()} ssr=SsrMode::Async/>
                    <Route
                        path=StaticSegment("admin")
                        view=|| view! { <Redirect path="/admin/monitor"/> }
                    />
                    <Route
                        path=(StaticSegment("admin"), StaticSegment("monitor"))
                        view={Lazy::<MonitorRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("admin"), StaticSegment("accounts"))
                        view={Lazy::<AccountsRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("admin"), StaticSegment("classes"))
                        view={Lazy::<SchoolClassesRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("admin"), StaticSegment("classes"), ParamSegment("id"))
                        view={Lazy::<ClassRosterRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("admin"), StaticSegment("rules"))
                        view={Lazy::<RulesRoute>::new()}
                        ssr=SsrMode::Async
                    />
                </Routes>
            </main>
        </Router>
    }
}
