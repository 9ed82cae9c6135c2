//! Document shell, router and top-level layout.

use crate::{
    api::board::SignOut,
    ui::{
        board::BoardPage, classes::ClassesPage, login::LoginPage, status::StatusPage,
        student::StudentPage,
    },
};
use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    ParamSegment, SsrMode, StaticSegment,
    components::{Route, Router, Routes},
};

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

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser, so this flips once the page is interactive;
    // end-to-end tests wait for it before clicking.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let sign_out = ServerAction::<SignOut>::new();

    view! {
        <Stylesheet id="leptos" href="/pkg/classpoints.css"/>
        <Title text="classpoints"/>
        <Router>
            <header class="topbar">
                <a class="brand" href="/">"classpoints"</a>
                <nav class="topnav">
                    <a href="/">"Classes"</a>
                    <a href="/status">"Status"</a>
                    <ActionForm action=sign_out>
                        <button type="submit" class="link" data-testid="sign-out">"Sign out"</button>
                    </ActionForm>
                </nav>
            </header>
            <main data-hydrated=move || hydrated.get().to_string()>
                <Routes fallback=|| view! { <p>"Page not found."</p> }>
                    // Pages behind sign-in render once their data is in (SsrMode::Async), so a
                    // visitor who is not signed in gets a real redirect, not a script.
                    <Route path=StaticSegment("") view=ClassesPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("login") view=LoginPage/>
                    <Route
                        path=(StaticSegment("class"), ParamSegment("id"))
                        view=BoardPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("student"), ParamSegment("id"))
                        view=StudentPage
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("status") view=StatusPage/>
                </Routes>
            </main>
        </Router>
    }
}
