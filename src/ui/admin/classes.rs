//! Classes and students: create, rename, archive and restore; teachers of a class; and
//! students imported from a roster CSV after a preview that shows each refused line.

use super::{AdminTabs, Outcome, accounts::report};
use crate::i18n::{t, t_string, use_i18n};
use crate::{
    api::admin::{
        AddStudent, AddTeacherToClass, CreateSchoolClass, ImportRoster, PreviewRoster,
        UpdateSchoolClass, UpdateStudent, load_class_roster, load_school_classes,
    },
    model::{ClassInfo, Role, RosterPreview, StudentInfo, UserInfo},
};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use std::collections::HashMap;

#[component]
pub fn SchoolClassesPage() -> impl IntoView {
    let i18n = use_i18n();
    let create = ServerAction::<CreateSchoolClass>::new();
    let update = ServerAction::<UpdateSchoolClass>::new();
    let add_teacher = ServerAction::<AddTeacherToClass>::new();
    let import = ServerAction::<ImportRoster>::new();
    let outcome = RwSignal::new(None);
    report(create, outcome, move |_: &String| {
        t_string!(i18n, saved).to_owned()
    });
    report(update, outcome, move |_: &()| {
        t_string!(i18n, saved).to_owned()
    });
    report(add_teacher, outcome, move |_: &()| {
        t_string!(i18n, saved).to_owned()
    });
    let list = crate::ui::load(
        move || {
            (
                create.version().get(),
                update.version().get(),
                add_teacher.version().get(),
                import.version().get(),
            )
        },
        |_| load_school_classes(),
    );
    view! {
        <AdminTabs/>
        <section aria-labelledby="classes-admin-title">
            <h1 id="classes-admin-title">{t!(i18n, classes_title)}</h1>
            <Outcome message=outcome/>
            {crate::ui::loaded(list, move |school| {
                let teachers: Vec<UserInfo> = school
                    .teachers
                    .into_iter()
                    .filter(|u| u.active && u.role == Role::Teacher)
                    .collect();
                view! { <ClassTable classes=school.classes teachers update add_teacher/> }
                    .into_any()
            })}
            <h2>{t!(i18n, create_class)}</h2>
            <ActionForm action=create attr:class="stacked-form" attr:data-testid="create-class">
                <label>
                    {t!(i18n, class_name)}
                    <input type="text" name="name" required/>
                </label>
                <button type="submit" class="primary">{t!(i18n, create)}</button>
            </ActionForm>
            <RosterImport import/>
        </section>
    }
}

#[component]
fn ClassTable(
    classes: Vec<ClassInfo>,
    teachers: Vec<UserInfo>,
    update: ServerAction<UpdateSchoolClass>,
    add_teacher: ServerAction<AddTeacherToClass>,
) -> impl IntoView {
    let i18n = use_i18n();
    let names: HashMap<String, String> = teachers
        .iter()
        .map(|u| (u.id.clone(), u.name.clone()))
        .collect();
    let teachers = StoredValue::new(teachers);
    view! {
        <table class="wide-table" data-testid="classes">
            <thead>
                <tr>
                    <th scope="col">{t!(i18n, class)}</th>
                    <th scope="col">{t!(i18n, students)}</th>
                    <th scope="col">{t!(i18n, teachers)}</th>
                    <th scope="col">{t!(i18n, add_teacher)}</th>
                    <th scope="col">{t!(i18n, rename)}</th>
                    <th scope="col">{t!(i18n, archived)}</th>
                </tr>
            </thead>
            <tbody>
                {classes
                    .into_iter()
                    .map(|class| {
                        let teaching = class
                            .teacher_ids
                            .iter()
                            .map(|id| names.get(id).cloned().unwrap_or_else(|| id.clone()))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let new_name = RwSignal::new(class.name.clone());
                        let chosen = RwSignal::new(String::new());
                        let (rename_id, archive_id, teacher_class) =
                            (class.id.clone(), class.id.clone(), class.id.clone());
                        let archived = class.archived;
                        let field_id = format!("rename-{}", class.id);
                        let select_id = format!("teacher-{}", class.id);
                        view! {
                            <tr data-class=class.id.clone() class:archived=archived>
                                <td>
                                    <a href=format!("/admin/classes/{}", class.id)>{class.name.clone()}</a>
                                </td>
                                <td class="num">{class.students}</td>
                                <td>{teaching}</td>
                                <td>
                                    <form
                                        class="inline-form"
                                        on:submit=move |ev| {
                                            ev.prevent_default();
                                            let teacher_id = chosen.get_untracked();
                                            if !teacher_id.is_empty() {
                                                add_teacher
                                                    .dispatch(AddTeacherToClass {
                                                        class_id: teacher_class.clone(),
                                                        teacher_id,
                                                    });
                                            }
                                        }
                                    >
                                        <label class="visually-hidden" for=select_id.clone()>
                                            {t!(i18n, add_teacher)} " " {class.name.clone()}
                                        </label>
                                        <select
                                            id=select_id
                                            on:change=move |ev| chosen.set(event_target_value(&ev))
                                        >
                                            <option value="">"—"</option>
                                            {teachers
                                                .get_value()
                                                .into_iter()
                                                .map(|u| view! { <option value=u.id>{u.name}</option> })
                                                .collect_view()}
                                        </select>
                                        <button type="submit">{t!(i18n, add_teacher)}</button>
                                    </form>
                                </td>
                                <td>
                                    <form
                                        class="inline-form"
                                        on:submit=move |ev| {
                                            ev.prevent_default();
                                            update
                                                .dispatch(UpdateSchoolClass {
                                                    class_id: rename_id.clone(),
                                                    name: Some(new_name.get_untracked()),
                                                    archived: None,
                                                });
                                        }
                                    >
                                        <label class="visually-hidden" for=field_id.clone()>
                                            {t!(i18n, rename)} " " {class.name.clone()}
                                        </label>
                                        <input
                                            id=field_id
                                            type="text"
                                            prop:value=move || new_name.get()
                                            on:input=move |ev| new_name.set(event_target_value(&ev))
                                        />
                                        <button type="submit">{t!(i18n, rename)}</button>
                                    </form>
                                </td>
                                <td>
                                    <button
                                        type="button"
                                        data-testid="archive-class"
                                        on:click=move |_| {
                                            update
                                                .dispatch(UpdateSchoolClass {
                                                    class_id: archive_id.clone(),
                                                    name: None,
                                                    archived: Some(!archived),
                                                });
                                        }
                                    >
                                        {if archived {
                                            t!(i18n, restore).into_any()
                                        } else {
                                            t!(i18n, archive).into_any()
                                        }}
                                    </button>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// Paste or choose a CSV, preview what it would do (refused lines with their reasons),
/// then import: good lines go in, refused ones are listed again.
#[component]
fn RosterImport(import: ServerAction<ImportRoster>) -> impl IntoView {
    let i18n = use_i18n();
    let csv = RwSignal::new(String::new());
    let preview = ServerAction::<PreviewRoster>::new();
    let on_file = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let file = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                .and_then(|input| input.files())
                .and_then(|files| files.get(0));
            if let Some(file) = file {
                leptos::task::spawn_local(async move {
                    if let Ok(text) = wasm_bindgen_futures::JsFuture::from(file.text()).await
                        && let Some(text) = text.as_string()
                    {
                        csv.set(text);
                    }
                });
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    view! {
        <h2 id="import-title">{t!(i18n, import_roster)}</h2>
        <p class="muted">{t!(i18n, import_help)}</p>
        <div class="stacked-form" data-testid="roster-import">
            <label>
                {t!(i18n, choose_file)}
                <input type="file" accept=".csv,text/csv" data-testid="roster-file" on:change=on_file/>
            </label>
            <label>
                {t!(i18n, csv_text)}
                <textarea
                    rows="6"
                    data-testid="roster-csv"
                    prop:value=move || csv.get()
                    on:input=move |ev| csv.set(event_target_value(&ev))
                ></textarea>
            </label>
            <div class="editor-actions">
                <button
                    type="button"
                    data-testid="preview-roster"
                    disabled=move || csv.with(|c| c.trim().is_empty())
                    on:click=move |_| {
                        preview.dispatch(PreviewRoster { csv: csv.get_untracked() });
                    }
                >
                    {t!(i18n, preview)}
                </button>
                <button
                    type="button"
                    class="primary"
                    data-testid="import-roster"
                    disabled=move || preview.value().with(|p| !matches!(p, Some(Ok(_))))
                    on:click=move |_| {
                        import.dispatch(ImportRoster { csv: csv.get_untracked() });
                    }
                >
                    {t!(i18n, import)}
                </button>
            </div>
        </div>
        {move || {
            preview
                .value()
                .get()
                .map(|result| match result {
                    Ok(preview) => view! { <Preview preview/> }.into_any(),
                    Err(e) => {
                        view! { <p class="error" role="alert">{crate::ui::error_text(i18n.get_locale(), &e)}</p> }
                            .into_any()
                    }
                })
        }}
        {move || {
            import
                .value()
                .get()
                .map(|result| match result {
                    Ok(report) => {
                        let n = report.students_created;
                        view! {
                            <div data-testid="import-report" role="status">
                                <p>{t!(i18n, imported_n, n = move || n)}</p>
                                <RefusedLines errors=report.errors/>
                            </div>
                        }
                            .into_any()
                    }
                    Err(e) => {
                        view! { <p class="error" role="alert">{crate::ui::error_text(i18n.get_locale(), &e)}</p> }
                            .into_any()
                    }
                })
        }}
    }
}

#[component]
fn Preview(preview: RosterPreview) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div data-testid="roster-preview">
            <h3>{t!(i18n, will_import)} {format!(" ({})", preview.rows.len())}</h3>
            <table class="wide-table" data-testid="preview-rows">
                <thead>
                    <tr>
                        <th scope="col">{t!(i18n, line)}</th>
                        <th scope="col">{t!(i18n, class)}</th>
                        <th scope="col">{t!(i18n, name)}</th>
                        <th scope="col">{t!(i18n, student_no)}</th>
                    </tr>
                </thead>
                <tbody>
                    {preview
                        .rows
                        .into_iter()
                        .map(|row| {
                            view! {
                                <tr data-line=row.line>
                                    <td class="num">{row.line}</td>
                                    <td>{row.class}</td>
                                    <td>{row.name}</td>
                                    <td>{row.student_no.unwrap_or_default()}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            {(!preview.new_classes.is_empty())
                .then(|| {
                    view! {
                        <p>
                            {t!(i18n, new_classes)} ": " {preview.new_classes.join(", ")}
                        </p>
                    }
                })}
            <RefusedLines errors=preview.errors/>
        </div>
    }
}

#[component]
fn RefusedLines(errors: Vec<crate::model::RowError>) -> impl IntoView {
    let i18n = use_i18n();
    (!errors.is_empty()).then(|| {
        view! {
            <h3>{t!(i18n, will_refuse)} {format!(" ({})", errors.len())}</h3>
            <table class="wide-table" data-testid="refused-rows">
                <thead>
                    <tr>
                        <th scope="col">{t!(i18n, line)}</th>
                        <th scope="col">{t!(i18n, class)}</th>
                        <th scope="col">{t!(i18n, name)}</th>
                        <th scope="col">{t!(i18n, student_no)}</th>
                        <th scope="col">{t!(i18n, message)}</th>
                    </tr>
                </thead>
                <tbody>
                    {errors
                        .into_iter()
                        .map(|e| {
                            let why = match &e.error {
                                Some(error) => crate::ui::error_text(i18n.get_locale(), error),
                                None => e.message,
                            };
                            let row = e.row.unwrap_or_default();
                            view! {
                                <tr data-line=e.line>
                                    <td class="num">{e.line}</td>
                                    <td>{row.class}</td>
                                    <td>{row.name}</td>
                                    <td>{row.student_no.unwrap_or_default()}</td>
                                    <td>{why}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        }
    })
}

/// One class's students: add, rename, renumber, archive and restore.
#[component]
pub fn ClassRosterPage() -> impl IntoView {
    let i18n = use_i18n();
    let params = use_params_map();
    let class_id = move || params.read().get("id").unwrap_or_default();
    let add = ServerAction::<AddStudent>::new();
    let edit = ServerAction::<UpdateStudent>::new();
    let outcome = RwSignal::new(None);
    report(add, outcome, move |_: &String| {
        t_string!(i18n, saved).to_owned()
    });
    report(edit, outcome, move |_: &()| {
        t_string!(i18n, saved).to_owned()
    });
    let roster = crate::ui::load(
        move || (class_id(), add.version().get(), edit.version().get()),
        |(id, _, _)| load_class_roster(id),
    );
    view! {
        <AdminTabs/>
        <p>
            <a href="/admin/classes">{t!(i18n, back_to_classes)}</a>
        </p>
        <Outcome message=outcome/>
        {crate::ui::loaded(roster, move |roster| {
            let class_id = roster.class.id.clone();
            view! {
                <section aria-labelledby="roster-title">
                    <h1 id="roster-title">{roster.class.name}</h1>
                    <table class="wide-table" data-testid="students">
                        <thead>
                            <tr>
                                <th scope="col">{t!(i18n, name)}</th>
                                <th scope="col">{t!(i18n, student_no)}</th>
                                <th scope="col">{t!(i18n, points)}</th>
                                <th scope="col">{t!(i18n, edit)}</th>
                                <th scope="col">{t!(i18n, archived)}</th>
                            </tr>
                        </thead>
                        <tbody>
                            {roster
                                .students
                                .into_iter()
                                .map(|student| view! { <StudentRow student edit/> })
                                .collect_view()}
                        </tbody>
                    </table>
                    <h2>{t!(i18n, add_student)}</h2>
                    <ActionForm action=add attr:class="stacked-form" attr:data-testid="add-student">
                        <input type="hidden" name="class_id" value=class_id/>
                        <label>
                            {t!(i18n, name)}
                            <input type="text" name="name" required/>
                        </label>
                        <label>
                            {t!(i18n, student_no)}
                            <input type="text" name="student_no"/>
                        </label>
                        <button type="submit" class="primary">{t!(i18n, add_student)}</button>
                    </ActionForm>
                </section>
            }
                .into_any()
        })}
    }
}

#[component]
fn StudentRow(student: StudentInfo, edit: ServerAction<UpdateStudent>) -> impl IntoView {
    let i18n = use_i18n();
    let name = RwSignal::new(student.name.clone());
    let number = RwSignal::new(student.student_no.clone().unwrap_or_default());
    let (edit_id, archive_id) = (student.id.clone(), student.id.clone());
    let archived = student.archived;
    let (name_field, number_field) = (format!("name-{}", student.id), format!("no-{}", student.id));
    view! {
        <tr data-student=student.id.clone() class:archived=archived>
            <td>
                <a href=format!("/student/{}", student.id)>{student.name.clone()}</a>
            </td>
            <td>{student.student_no.clone().unwrap_or_default()}</td>
            <td class="num">{student.points}</td>
            <td>
                <form
                    class="inline-form"
                    on:submit=move |ev| {
                        ev.prevent_default();
                        edit.dispatch(UpdateStudent {
                            student_id: edit_id.clone(),
                            name: Some(name.get_untracked()),
                            student_no: Some(number.get_untracked()),
                            archived: None,
                        });
                    }
                >
                    <label class="visually-hidden" for=name_field.clone()>
                        {t!(i18n, name)} " " {student.name.clone()}
                    </label>
                    <input
                        id=name_field
                        type="text"
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                    <label class="visually-hidden" for=number_field.clone()>
                        {t!(i18n, student_no)} " " {student.name.clone()}
                    </label>
                    <input
                        id=number_field
                        type="text"
                        class="short"
                        prop:value=move || number.get()
                        on:input=move |ev| number.set(event_target_value(&ev))
                    />
                    <button type="submit">{t!(i18n, save)}</button>
                </form>
            </td>
            <td>
                <button
                    type="button"
                    data-testid="archive-student"
                    on:click=move |_| {
                        edit.dispatch(UpdateStudent {
                            student_id: archive_id.clone(),
                            name: None,
                            student_no: None,
                            archived: Some(!archived),
                        });
                    }
                >
                    {if archived { t!(i18n, restore).into_any() } else { t!(i18n, archive).into_any() }}
                </button>
            </td>
        </tr>
    }
}
