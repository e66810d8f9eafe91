//! The model against hand-written sequences, and every generated one parsing back.

use super::*;
use crate::fuzz::differential::vocabulary;

/// The steps of a rendered scenario, as the parser reads them back.
fn steps(rendered: &Rendered) -> Vec<Step> {
    let file = crate::scenario::parse_str("generated.yaml", &rendered.yaml)
        .unwrap_or_else(|e| panic!("{e}\n{}", rendered.yaml));
    file.scenarios[0]
        .steps
        .iter()
        .map(|s| s.value.clone())
        .collect()
}

fn head() -> Draft {
    Draft {
        name: "s".into(),
        description: Some("d".into()),
        ..Draft::default()
    }
}

#[test]
fn every_generated_sequence_renders_to_a_scenario_that_parses_back() {
    for namespace in [Namespace::fixtures(), Namespace::numbered(3)] {
        for index in 0..300 {
            let actions = vocabulary::sequence(16, index);
            let rendered = render(head(), &actions, &namespace).expect("writes");
            let parsed = crate::scenario::parse_str("generated.yaml", &rendered.yaml)
                .unwrap_or_else(|e| panic!("{e}\n{}", rendered.yaml));
            assert_eq!(parsed.scenarios.len(), 1);
            assert_eq!(parsed.scenarios[0].steps.len(), rendered.steps);
        }
    }
}

#[test]
fn actions_out_of_place_are_left_out() {
    let actions = [
        Action::Subscribe {
            client: 0,
            room: Room::Status,
        },
        Action::Connect {
            client: 0,
            credential: Credential::Valid(Role::Alice),
            polling: false,
        },
        Action::Restore { client: 0 },
        Action::Connect {
            client: 0,
            credential: Credential::Valid(Role::Bob),
            polling: false,
        },
        Action::Connect {
            client: 1,
            credential: Credential::Expired,
            polling: false,
        },
        Action::Read {
            client: 1,
            target: ReadTarget::Unknown,
        },
        Action::Read {
            client: 0,
            target: ReadTarget::Created(0),
        },
    ];
    let rendered = render(head(), &actions, &Namespace::fixtures()).expect("writes");
    assert_eq!(rendered.kept, vec![actions[1], actions[4]]);
}

#[test]
fn no_user_sends_an_event_beyond_its_allowance() {
    let mut actions = vec![Action::Connect {
        client: 0,
        credential: Credential::Valid(Role::Alice),
        polling: false,
    }];
    actions.extend((0..10).map(|_| Action::Read {
        client: 0,
        target: ReadTarget::Unknown,
    }));
    let rendered = render(head(), &actions, &Namespace::fixtures()).expect("writes");
    assert_eq!(rendered.kept.len(), 1 + RATE_BUDGET as usize);
    let reads = steps(&rendered)
        .into_iter()
        .filter(|step| matches!(step, Step::Emit(emit) if emit.event == "notification:read"))
        .count();
    assert_eq!(reads, RATE_BUDGET as usize);
}

#[test]
fn broadcasts_are_waited_for_on_their_subscribers_only() {
    let actions = [
        Action::Connect {
            client: 0,
            credential: Credential::Valid(Role::Alice),
            polling: false,
        },
        Action::Connect {
            client: 1,
            credential: Credential::Valid(Role::Bob),
            polling: true,
        },
        Action::Subscribe {
            client: 0,
            room: Room::Notifications,
        },
        Action::Subscribe {
            client: 1,
            room: Room::Notifications,
        },
        Action::Push(Push::ForUser(Role::Alice)),
        Action::Cut { client: 0 },
        Action::Push(Push::ForUser(Role::Alice)),
        Action::Read {
            client: 1,
            target: ReadTarget::Created(1),
        },
    ];
    let rendered = render(head(), &actions, &Namespace::fixtures()).expect("writes");
    assert_eq!(rendered.kept.len(), actions.len());
    let expected = |event: &str| -> Vec<Vec<String>> {
        steps(&rendered)
            .into_iter()
            .filter_map(|step| match step {
                Step::Expect(expect) if expect.event.as_deref() == Some(event) => {
                    Some(expect.names().cloned().collect())
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(expected("notification:new"), [["c0"]]);
    assert!(expected("notification:read:error").contains(&vec!["c1".to_owned()]));
}

#[test]
fn a_namespace_names_its_own_users_and_notifications() {
    let namespace = Namespace::numbered(7);
    assert_eq!(namespace.user_id(Role::Alice), "d7-user-1");
    assert!(namespace.sql().contains("('d7-n-bob-1', 'd7-user-2'"));
    assert_eq!(Namespace::fixtures().user_id(Role::Alice), "user-1");
    assert!(Namespace::fixtures().sql().is_empty());
}
