//! A linearizability checker: is there an order of the recorded operations,
//! consistent with real time, in which a sequential model gives every recorded
//! result?
//!
//! The search is Wing & Gong's, with Lowe's memoization: walk the history's
//! call and return events in time order; at a call, try to linearize that
//! operation now (the model must accept its result), remembering the choice on
//! a stack; at a return whose call was not linearized yet, undo the last choice.
//! A (set of linearized operations, model state) pair already explored is never
//! explored again, which makes typical histories fast.
//!
//! An operation whose outcome is unknown (the client timed out, its node
//! crashed) has no return: it may take effect at any point after its call, or
//! never, which is the same as taking effect after everything else.

use std::collections::HashSet;
use std::hash::Hash;

use fixedbitset::FixedBitSet;

/// A sequential specification of one partition of the state.
pub trait Model {
    /// The state of one partition (e.g. one znode).
    type State: Clone + Eq + Hash;
    /// An operation's input.
    type Input;
    /// An operation's recorded result.
    type Output;
    /// The key that partitions the history (operations on different keys are
    /// independent).
    type Key: Clone + Ord;

    /// The state before any operation.
    fn init() -> Self::State;
    /// The partition `input` belongs to.
    fn key(input: &Self::Input) -> Self::Key;
    /// The state after applying `input` to `state`, if the model allows the
    /// recorded `output` (`None` means the outcome is unknown: any result).
    fn step(
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;
}

/// One recorded operation.
#[derive(Debug, Clone)]
pub struct Operation<I, O> {
    /// Who issued it (for reports only).
    pub client: u64,
    /// What was asked.
    pub input: I,
    /// What was answered; `None` when the outcome is unknown.
    pub output: Option<O>,
    /// When the call was made (any monotonic unit).
    pub call_time: u64,
    /// When the answer arrived; ignored when `output` is `None`.
    pub return_time: u64,
}

/// The checker's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<K> {
    /// Every partition has a linearization.
    Linearizable,
    /// This partition has none.
    NotLinearizable {
        /// The partition's key.
        key: K,
    },
    /// The search gave up after `steps_max` steps in this partition.
    Unknown {
        /// The partition's key.
        key: K,
    },
}

/// Checks `history` against model `M`, spending at most `steps_max` search
/// steps on each partition.
pub fn check<M: Model>(
    history: &[Operation<M::Input, M::Output>],
    steps_max: u64,
) -> Verdict<M::Key> {
    let mut partitions: std::collections::BTreeMap<M::Key, Vec<usize>> = Default::default();
    for (i, op) in history.iter().enumerate() {
        partitions.entry(M::key(&op.input)).or_default().push(i);
    }
    for (key, ops) in partitions {
        match check_partition::<M>(history, &ops, steps_max) {
            Some(true) => {}
            Some(false) => return Verdict::NotLinearizable { key },
            None => return Verdict::Unknown { key },
        }
    }
    Verdict::Linearizable
}

/// One event of the doubly linked list the search walks.
#[derive(Debug, Clone, Copy)]
struct Event {
    /// Index into the partition's operations.
    op: usize,
    is_call: bool,
    /// For a call, the list node of its return.
    matching: usize,
    prev: usize,
    next: usize,
}

const HEAD: usize = 0;
const NONE: usize = usize::MAX;

/// `Some(true)` if linearizable, `Some(false)` if not, `None` if out of steps.
fn check_partition<M: Model>(
    history: &[Operation<M::Input, M::Output>],
    ops: &[usize],
    steps_max: u64,
) -> Option<bool> {
    let mut list = build_list(history, ops);
    let mut linearized = FixedBitSet::with_capacity(ops.len());
    let mut cache: HashSet<(FixedBitSet, M::State)> = HashSet::new();
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut state = M::init();
    let mut node = list[HEAD].next;
    let mut steps = 0u64;
    while list[HEAD].next != NONE {
        steps += 1;
        if steps > steps_max {
            return None;
        }
        let event = (node != NONE).then(|| list[node]);
        if let Some(event) = event.filter(|e| e.is_call) {
            let op = &history[ops[event.op]];
            if let Some(next_state) = M::step(&state, &op.input, op.output.as_ref()) {
                let mut marked = linearized.clone();
                marked.insert(event.op);
                if cache.insert((marked.clone(), next_state.clone())) {
                    stack.push((node, state));
                    state = next_state;
                    linearized = marked;
                    lift(&mut list, node);
                    node = list[HEAD].next;
                    continue;
                }
            }
            node = event.next;
        } else {
            // A return whose call is still in the list (or the end of the
            // list): that call had to come before this point and no choice
            // made it fit. Undo the last choice and try the next call.
            let Some((call, previous)) = stack.pop() else {
                return Some(false);
            };
            state = previous;
            linearized.set(list[call].op, false);
            unlift(&mut list, call);
            node = list[call].next;
        }
    }
    Some(true)
}

fn build_list<I, O>(history: &[Operation<I, O>], ops: &[usize]) -> Vec<Event> {
    // (time, is_return, op): at equal times calls sort first, so operations
    // that touch in time count as concurrent.
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, &h) in ops.iter().enumerate() {
        let op = &history[h];
        let return_time = if op.output.is_some() {
            op.return_time
        } else {
            u64::MAX
        };
        events.push((op.call_time, false, i));
        events.push((return_time, true, i));
    }
    events.sort();
    let mut list = Vec::with_capacity(events.len() + 1);
    list.push(Event {
        op: NONE,
        is_call: false,
        matching: NONE,
        prev: NONE,
        next: NONE,
    });
    let mut return_node = vec![NONE; ops.len()];
    for (n, &(_, is_return, op)) in events.iter().enumerate() {
        let node = n + 1;
        list[node - 1].next = node;
        list.push(Event {
            op,
            is_call: !is_return,
            matching: NONE,
            prev: node - 1,
            next: NONE,
        });
        if is_return {
            return_node[op] = node;
        }
    }
    for node in 1..list.len() {
        if list[node].is_call {
            list[node].matching = return_node[list[node].op];
        }
    }
    list
}

/// Removes a call and its return from the list (they stay in the arena).
fn lift(list: &mut [Event], call: usize) {
    unlink(list, call);
    unlink(list, list[call].matching);
}

/// Puts back a call and its return removed by [`lift`], in reverse order.
fn unlift(list: &mut [Event], call: usize) {
    relink(list, list[call].matching);
    relink(list, call);
}

fn unlink(list: &mut [Event], node: usize) {
    let Event { prev, next, .. } = list[node];
    list[prev].next = next;
    if next != NONE {
        list[next].prev = prev;
    }
}

fn relink(list: &mut [Event], node: usize) {
    let Event { prev, next, .. } = list[node];
    list[prev].next = node;
    if next != NONE {
        list[next].prev = node;
    }
}
