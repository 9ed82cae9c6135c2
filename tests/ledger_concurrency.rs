//! Concurrency: exact totals on a hot student, and exactly-once under retries.
#![cfg(feature = "ssr")]

mod support;

use classpoints::ledger::{Executed, Request};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_tasks_times_five_hundred_awards_on_one_student_add_up_exactly() {
    const TASKS: usize = 64;
    const AWARDS: usize = 500;
    let s = school(1).await;
    let hot = s.students[0].clone();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let ledger = s.ledger.clone();
        let teacher = s.teacher.clone();
        let hot = hot.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..AWARDS {
                ledger.run(teacher.clone(), award(&hot, 1)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let expected = (TASKS * AWARDS) as i64;
    assert_eq!(s.ledger.balance(&hot).await.unwrap(), expected);
    assert_eq!(
        s.count("SELECT count(*) FROM point_transactions").await,
        expected
    );
    assert_eq!(
        s.count("SELECT COALESCE(SUM(points_change), 0) FROM point_transactions")
            .await,
        expected
    );
    s.assert_consistent().await;
}

/// Each logical request is sent 1–5 times, either all at once or one after another, as a
/// client retrying over a flaky network would. Exactly one ledger row per request results, and
/// every copy gets the same answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_request_id_sent_repeatedly_in_parallel_and_in_series_writes_once() {
    use rand::Rng;
    const REQUESTS: usize = 200;
    let s = school(4).await;
    let mut rng = rand::rng();
    let mut expected = std::collections::HashMap::<String, i64>::new();
    let mut handles = Vec::new();
    for n in 0..REQUESTS {
        let student = s.students[n % s.students.len()].clone();
        let points = rng.random_range(1..=5);
        *expected.entry(student.clone()).or_default() += points;
        let copies = rng.random_range(1..=5);
        let parallel = rng.random_bool(0.5);
        let request =
            Request::new(s.teacher.clone(), award(&student, points)).with_key(format!("key-{n}"));
        let ledger = s.ledger.clone();
        handles.push(tokio::spawn(async move {
            let answers: Vec<Executed> = if parallel {
                let sends: Vec<_> = (0..copies)
                    .map(|_| {
                        let ledger = ledger.clone();
                        let request = request.clone();
                        tokio::spawn(async move { ledger.execute(request).await.unwrap() })
                    })
                    .collect();
                let mut answers = Vec::new();
                for send in sends {
                    answers.push(send.await.unwrap());
                }
                answers
            } else {
                let mut answers = Vec::new();
                for _ in 0..copies {
                    answers.push(ledger.execute(request.clone()).await.unwrap());
                }
                answers
            };
            (copies, answers)
        }));
    }
    let mut fresh = 0;
    for handle in handles {
        let (copies, answers) = handle.await.unwrap();
        assert_eq!(answers.len(), copies);
        assert_eq!(
            answers.iter().filter(|a| !a.replayed).count(),
            1,
            "exactly one executed"
        );
        assert!(
            answers.iter().all(|a| a.outcome == answers[0].outcome),
            "same answer every time"
        );
        fresh += 1;
    }
    assert_eq!(fresh, REQUESTS);
    assert_eq!(
        s.count("SELECT count(*) FROM point_transactions").await,
        REQUESTS as i64
    );
    assert_eq!(
        s.count("SELECT count(*) FROM idempotency_keys").await,
        REQUESTS as i64
    );
    for (student, points) in expected {
        assert_eq!(s.ledger.balance(&student).await.unwrap(), points);
    }
    s.assert_consistent().await;
}
