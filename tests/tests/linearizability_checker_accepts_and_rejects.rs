//! Proves the linearizability checker can fail: hand-written histories with a
//! known verdict, and random histories generated from a real sequential run
//! (always linearizable) that become non-linearizable when one read is
//! changed to a value no order can explain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use corral_tests::linearizability::{Operation, Verdict, check};
use corral_tests::znode_model::{ZnodeInput, ZnodeModel, ZnodeOutput, ZnodeState};
use proptest::prelude::*;

const STEPS_MAX: u64 = 1_000_000;

fn op(
    call: u64,
    ret: u64,
    input: ZnodeInput,
    output: Option<ZnodeOutput>,
) -> Operation<ZnodeInput, ZnodeOutput> {
    Operation {
        client: 0,
        input,
        output,
        call_time: call,
        return_time: ret,
    }
}

fn set(data: u8) -> ZnodeInput {
    ZnodeInput::Set {
        path: "/a".into(),
        data: vec![data],
        version: None,
    }
}

fn get() -> ZnodeInput {
    ZnodeInput::Get { path: "/a".into() }
}

fn create() -> ZnodeInput {
    ZnodeInput::Create {
        path: "/a".into(),
        data: vec![0],
    }
}

fn data(d: u8, version: i32) -> Option<ZnodeOutput> {
    Some(ZnodeOutput::Data {
        data: vec![d],
        version,
    })
}

#[test]
fn a_read_of_a_value_overwritten_before_it_started_is_not_linearizable() {
    let history = vec![
        op(0, 1, create(), Some(ZnodeOutput::Ok)),
        op(2, 3, set(1), Some(ZnodeOutput::SetOk { version: 1 })),
        op(4, 5, set(2), Some(ZnodeOutput::SetOk { version: 2 })),
        // Starts after the second write returned, yet sees the first.
        op(6, 7, get(), data(1, 1)),
    ];
    assert_eq!(
        check::<ZnodeModel>(&history, STEPS_MAX),
        Verdict::NotLinearizable { key: "/a".into() }
    );
}

#[test]
fn a_read_concurrent_with_a_write_may_see_either_value() {
    for seen in [data(0, 0), data(1, 1)] {
        let history = vec![
            op(0, 1, create(), Some(ZnodeOutput::Ok)),
            op(2, 10, set(1), Some(ZnodeOutput::SetOk { version: 1 })),
            op(3, 4, get(), seen),
        ];
        assert_eq!(
            check::<ZnodeModel>(&history, STEPS_MAX),
            Verdict::Linearizable
        );
    }
}

#[test]
fn two_reads_may_not_see_a_write_then_lose_it() {
    let history = vec![
        op(0, 1, create(), Some(ZnodeOutput::Ok)),
        op(2, 20, set(1), Some(ZnodeOutput::SetOk { version: 1 })),
        op(3, 4, get(), data(1, 1)),
        op(5, 6, get(), data(0, 0)),
    ];
    assert_eq!(
        check::<ZnodeModel>(&history, STEPS_MAX),
        Verdict::NotLinearizable { key: "/a".into() }
    );
}

#[test]
fn a_write_with_unknown_outcome_may_or_may_not_have_happened() {
    for seen in [data(0, 0), data(1, 1)] {
        let history = vec![
            op(0, 1, create(), Some(ZnodeOutput::Ok)),
            op(2, 3, set(1), None),
            op(10, 11, get(), seen),
        ];
        assert_eq!(
            check::<ZnodeModel>(&history, STEPS_MAX),
            Verdict::Linearizable
        );
    }
}

#[test]
fn partitions_are_checked_independently_and_the_bad_one_is_named() {
    let mut history = vec![
        op(0, 1, create(), Some(ZnodeOutput::Ok)),
        op(2, 3, get(), data(0, 0)),
    ];
    history.push(op(0, 1, ZnodeInput::Get { path: "/b".into() }, data(9, 0)));
    assert_eq!(
        check::<ZnodeModel>(&history, STEPS_MAX),
        Verdict::NotLinearizable { key: "/b".into() }
    );
}

/// Builds a concurrent history from a sequential run: each operation gets a
/// linearization point inside a random [call, return] window around it.
fn history_from_sequential_run(
    ops: &[(u8, u8, u64, u64)],
) -> Vec<Operation<ZnodeInput, ZnodeOutput>> {
    let mut state: ZnodeState = None;
    let mut history = Vec::new();
    for (i, &(kind, value, before, after)) in ops.iter().enumerate() {
        let input = match kind % 4 {
            0 => create(),
            1 => ZnodeInput::Delete {
                path: "/a".into(),
                version: None,
            },
            2 => set(value),
            _ => get(),
        };
        let (output, next) = ZnodeModel::apply(&state, &input);
        state = next;
        // The linearization point is at 100 * i; the window spreads around it.
        let point = 100 * i as u64 + 1000;
        history.push(Operation {
            client: i as u64 % 8,
            input,
            output: Some(output),
            call_time: point - before,
            return_time: point + after,
        });
    }
    history
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn histories_of_a_sequential_run_are_linearizable(
        ops in prop::collection::vec((0u8..4, 0u8..4, 0u64..300, 0u64..300), 1..40)
    ) {
        let history = history_from_sequential_run(&ops);
        prop_assert_eq!(check::<ZnodeModel>(&history, STEPS_MAX), Verdict::Linearizable);
    }

    #[test]
    fn a_read_of_a_value_never_written_is_caught(
        ops in prop::collection::vec((0u8..4, 0u8..4, 0u64..300, 0u64..300), 1..40)
    ) {
        let mut history = history_from_sequential_run(&ops);
        history.push(op(0, u64::MAX - 1, get(), data(200, 7)));
        prop_assert_eq!(check::<ZnodeModel>(&history, STEPS_MAX), Verdict::NotLinearizable { key: "/a".into() });
    }
}
