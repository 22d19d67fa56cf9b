//! Proves the wire formats: every message of the client, peer and link
//! protocols survives encode → frame → decode unchanged (generated over every
//! variant), and arbitrary bytes fed to every decoder and to the frame parser
//! give an error or a value, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use corral_core::broadcast::{
    AppendResult, Body, ConfChange, Entry, EntryKind, Membership, Message, SnapshotMeta,
};
use corral_core::tree::{
    Acl, AddWatchMode, Command, CreateMode, CreateRequest, ErrorCode, EventType, Id, MultiOp,
    MultiOpResult, Perms, ReadOp, ReadOpResult, Request, Response, Stat, WatchedEvent, WatcherType,
    ZkError,
};
use corral_transport::frame::{FrameHead, parse_frame};
use corral_transport::wire::{
    self, ClientMessage, ConnectRequest, ConnectResponse, ForwardOutcome, NodeStatus, PeerMessage,
    ServerMessage, WatchesToRestore,
};
use corral_transport::{LinkHello, LinkWelcome};
use proptest::collection::{btree_set, vec};
use proptest::option;
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

const BYTES_MAX: u32 = 1 << 20;

fn path() -> impl Strategy<Value = String> {
    prop_oneof![Just("/".to_owned()), "(/[a-z0-9]{1,6}){1,4}", ".{0,12}"]
}
fn data() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..64)
}
fn stat() -> impl Strategy<Value = Stat> {
    (any::<[i64; 6]>(), any::<[i32; 5]>()).prop_map(|(l, i)| Stat {
        czxid: l[0],
        mzxid: l[1],
        ctime: l[2],
        mtime: l[3],
        ephemeral_owner: l[4],
        pzxid: l[5],
        version: i[0],
        cversion: i[1],
        aversion: i[2],
        data_length: i[3],
        num_children: i[4],
    })
}
fn id() -> impl Strategy<Value = Id> {
    (
        prop_oneof![Just("world"), Just("x509"), Just("digest"), Just("auth")],
        ".{0,10}",
    )
        .prop_map(|(scheme, id)| Id::new(scheme, id))
}
fn acl() -> impl Strategy<Value = Vec<Acl>> {
    vec(
        (any::<u32>(), id()).prop_map(|(p, id)| Acl {
            perms: Perms(p),
            id,
        }),
        0..3,
    )
}
fn mode() -> impl Strategy<Value = CreateMode> {
    prop_oneof![
        Just(CreateMode::Persistent),
        Just(CreateMode::PersistentSequential),
        Just(CreateMode::Ephemeral),
        Just(CreateMode::EphemeralSequential),
        Just(CreateMode::Container),
        Just(CreateMode::PersistentWithTtl),
        Just(CreateMode::PersistentSequentialWithTtl),
    ]
}
fn error_code() -> impl Strategy<Value = ErrorCode> {
    proptest::sample::select(ErrorCode::ALL.to_vec())
}
fn zk_error() -> impl Strategy<Value = ZkError> {
    (error_code(), path()).prop_map(|(c, p)| ZkError::new(c, p))
}
fn create() -> impl Strategy<Value = CreateRequest> {
    (path(), data(), acl(), mode(), option::of(any::<i64>())).prop_map(
        |(path, data, acl, mode, ttl_ms)| CreateRequest {
            path,
            data,
            acl,
            mode,
            ttl_ms,
        },
    )
}
fn multi_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        create().prop_map(MultiOp::Create),
        (path(), any::<i32>()).prop_map(|(path, version)| MultiOp::Delete { path, version }),
        (path(), data(), any::<i32>()).prop_map(|(path, data, version)| MultiOp::SetData {
            path,
            data,
            version
        }),
        (path(), any::<i32>()).prop_map(|(path, version)| MultiOp::Check { path, version }),
    ]
}
fn read_op() -> impl Strategy<Value = ReadOp> {
    prop_oneof![
        path().prop_map(|path| ReadOp::GetChildren { path }),
        path().prop_map(|path| ReadOp::GetData { path }),
    ]
}
fn watcher_type() -> impl Strategy<Value = WatcherType> {
    prop_oneof![
        Just(WatcherType::Children),
        Just(WatcherType::Data),
        Just(WatcherType::Any),
        Just(WatcherType::Persistent),
        Just(WatcherType::PersistentRecursive),
    ]
}
fn add_watch_mode() -> impl Strategy<Value = AddWatchMode> {
    prop_oneof![
        Just(AddWatchMode::Persistent),
        Just(AddWatchMode::PersistentRecursive)
    ]
}
fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        create().prop_map(Request::Create),
        (path(), any::<i32>()).prop_map(|(path, version)| Request::Delete { path, version }),
        (path(), any::<bool>()).prop_map(|(path, watch)| Request::Exists { path, watch }),
        (path(), any::<bool>()).prop_map(|(path, watch)| Request::GetData { path, watch }),
        (path(), data(), any::<i32>()).prop_map(|(path, data, version)| Request::SetData {
            path,
            data,
            version
        }),
        (path(), any::<bool>(), any::<bool>()).prop_map(|(path, watch, with_stat)| {
            Request::GetChildren {
                path,
                watch,
                with_stat,
            }
        }),
        path().prop_map(|path| Request::GetAllChildrenNumber { path }),
        path().prop_map(|prefix| Request::GetEphemerals { prefix }),
        path().prop_map(|path| Request::GetAcl { path }),
        (path(), acl(), any::<i32>()).prop_map(|(path, acl, aversion)| Request::SetAcl {
            path,
            acl,
            aversion
        }),
        vec(multi_op(), 0..4).prop_map(Request::Multi),
        vec(read_op(), 0..4).prop_map(Request::MultiRead),
        path().prop_map(|path| Request::Sync { path }),
        (path(), add_watch_mode()).prop_map(|(path, mode)| Request::AddWatch { path, mode }),
        (path(), watcher_type())
            .prop_map(|(path, watcher_type)| Request::RemoveWatches { path, watcher_type }),
        (".{0,8}", data()).prop_map(|(scheme, auth)| Request::AddAuth { scheme, auth }),
        Just(Request::Close),
    ]
}
fn multi_op_result() -> impl Strategy<Value = MultiOpResult> {
    prop_oneof![
        (path(), stat()).prop_map(|(path, stat)| MultiOpResult::Create { path, stat }),
        Just(MultiOpResult::Delete),
        stat().prop_map(|stat| MultiOpResult::SetData { stat }),
        Just(MultiOpResult::Check),
        error_code().prop_map(MultiOpResult::Error),
    ]
}
fn read_op_result() -> impl Strategy<Value = ReadOpResult> {
    prop_oneof![
        vec(".{0,6}", 0..4).prop_map(|children| ReadOpResult::GetChildren { children }),
        (data(), stat()).prop_map(|(data, stat)| ReadOpResult::GetData { data, stat }),
        error_code().prop_map(ReadOpResult::Error),
    ]
}
fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        (path(), stat()).prop_map(|(path, stat)| Response::Create { path, stat }),
        Just(Response::Delete),
        option::of(stat()).prop_map(|stat| Response::Exists { stat }),
        (data(), stat()).prop_map(|(data, stat)| Response::GetData { data, stat }),
        stat().prop_map(|stat| Response::SetData { stat }),
        (vec(".{0,6}", 0..4), option::of(stat()))
            .prop_map(|(children, stat)| Response::GetChildren { children, stat }),
        any::<i32>().prop_map(|count| Response::AllChildrenNumber { count }),
        vec(path(), 0..3).prop_map(|paths| Response::Ephemerals { paths }),
        (acl(), stat()).prop_map(|(acl, stat)| Response::GetAcl { acl, stat }),
        stat().prop_map(|stat| Response::SetAcl { stat }),
        vec(multi_op_result(), 0..4).prop_map(|results| Response::Multi { results }),
        vec(read_op_result(), 0..4).prop_map(|results| Response::MultiRead { results }),
        path().prop_map(|path| Response::Sync { path }),
        Just(Response::AddWatch),
        Just(Response::RemoveWatches),
        Just(Response::AddAuth),
        Just(Response::Close),
        (any::<i64>(), any::<i64>(), any::<[u8; 16]>()).prop_map(
            |(session, timeout_ms, secret)| {
                Response::SessionCreated {
                    session,
                    timeout_ms,
                    secret,
                }
            }
        ),
        (vec(any::<i64>(), 0..3), vec(path(), 0..3))
            .prop_map(|(sessions, paths)| Response::Housekeeping { sessions, paths }),
        Just(Response::Noop),
    ]
}
fn event() -> impl Strategy<Value = WatchedEvent> {
    (
        prop_oneof![
            Just(EventType::NodeCreated),
            Just(EventType::NodeDeleted),
            Just(EventType::NodeDataChanged),
            Just(EventType::NodeChildrenChanged),
        ],
        path(),
        any::<i64>(),
    )
        .prop_map(|(event_type, path, zxid)| WatchedEvent {
            event_type,
            path,
            zxid,
        })
}
fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (
            any::<u32>(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            any::<[u8; 16]>(),
            any::<bool>()
        )
            .prop_map(|(v, z, t, s, secret, ro)| {
                ClientMessage::Connect(ConnectRequest {
                    protocol_version: v,
                    last_zxid_seen: z,
                    timeout_ms: t,
                    session_id: s,
                    secret,
                    read_only: ro,
                })
            }),
        (any::<i32>(), request())
            .prop_map(|(xid, request)| ClientMessage::Request { xid, request }),
        Just(ClientMessage::Ping),
        (any::<i64>(), vec(vec(path(), 0..3), 5..=5)).prop_map(|(relative_zxid, mut lists)| {
            ClientMessage::SetWatches(WatchesToRestore {
                relative_zxid,
                persistent_recursive: lists.pop().unwrap(),
                persistent: lists.pop().unwrap(),
                child: lists.pop().unwrap(),
                exist: lists.pop().unwrap(),
                data: lists.pop().unwrap(),
            })
        }),
        (any::<i32>(), request())
            .prop_map(|(xid, request)| ClientMessage::ReadLinearizable { xid, request }),
        Just(ClientMessage::Status),
    ]
}
fn server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        (
            any::<u32>(),
            any::<i64>(),
            any::<i64>(),
            any::<[u8; 16]>(),
            any::<i64>(),
            any::<bool>()
        )
            .prop_map(|(v, t, s, secret, z, ro)| {
                ServerMessage::Connected(ConnectResponse {
                    protocol_version: v,
                    timeout_ms: t,
                    session_id: s,
                    secret,
                    last_zxid: z,
                    read_only: ro,
                })
            }),
        (option::of(zk_error()), ".{0,20}")
            .prop_map(|(error, reason)| ServerMessage::ConnectRefused { error, reason }),
        (
            any::<i32>(),
            any::<i64>(),
            prop_oneof![response().prop_map(Ok), zk_error().prop_map(Err)]
        )
            .prop_map(|(xid, zxid, result)| ServerMessage::Reply { xid, zxid, result }),
        event().prop_map(ServerMessage::Event),
        any::<i64>().prop_map(|zxid| ServerMessage::Pong { zxid }),
        (path(), any::<i64>(), any::<i64>()).prop_map(|(path, last_zxid_seen, oldest_zxid)| {
            ServerMessage::ResyncNeeded {
                path,
                last_zxid_seen,
                oldest_zxid,
            }
        }),
        (
            any::<(u64, bool, u64, Option<u64>)>(),
            any::<(u64, u64, i64, u64, u64)>(),
            "[a-z-]{0,12}"
        )
            .prop_map(
                |(
                    (id, voter, term, leader),
                    (committed, applied, last_zxid, sessions, znodes),
                    role,
                )| {
                    ServerMessage::Status(NodeStatus {
                        id,
                        role,
                        voter,
                        term,
                        leader,
                        committed,
                        applied,
                        last_zxid,
                        sessions,
                        znodes,
                    })
                }
            ),
    ]
}
fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (any::<i64>(), request())
            .prop_map(|(session, request)| Command::Client { session, request }),
        (any::<i64>(), any::<[u8; 16]>(), vec(id(), 0..3)).prop_map(
            |(timeout_ms, secret, identities)| Command::CreateSession {
                timeout_ms,
                secret,
                identities
            }
        ),
        vec(any::<i64>(), 0..4).prop_map(|sessions| Command::TouchSessions { sessions }),
        vec(any::<i64>(), 0..4).prop_map(|sessions| Command::ExpireSessions { sessions }),
        vec(path(), 0..3).prop_map(|paths| Command::ReapContainers { paths }),
        vec(path(), 0..3).prop_map(|paths| Command::ReapTtl { paths }),
        Just(Command::Noop),
    ]
}
fn bytes() -> impl Strategy<Value = Bytes> {
    data().prop_map(Bytes::from)
}
fn membership() -> impl Strategy<Value = Membership> {
    (btree_set(any::<u64>(), 0..4), btree_set(any::<u64>(), 0..3))
        .prop_map(|(voters, learners)| Membership { voters, learners })
}
fn entry() -> impl Strategy<Value = Entry> {
    let kind = prop_oneof![
        Just(EntryKind::Noop),
        bytes().prop_map(EntryKind::Normal),
        prop_oneof![
            any::<u64>().prop_map(ConfChange::AddVoter),
            any::<u64>().prop_map(ConfChange::AddLearner),
            any::<u64>().prop_map(ConfChange::PromoteLearner),
            any::<u64>().prop_map(ConfChange::Remove),
        ]
        .prop_map(EntryKind::ConfChange),
        membership().prop_map(EntryKind::Bootstrap),
    ];
    (any::<u64>(), any::<u64>(), kind).prop_map(|(index, term, kind)| Entry { index, term, kind })
}
fn snapshot_meta() -> impl Strategy<Value = SnapshotMeta> {
    (any::<u64>(), any::<u64>(), membership()).prop_map(|(index, term, membership)| SnapshotMeta {
        index,
        term,
        membership,
    })
}
fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (any::<u64>(), any::<u64>()).prop_map(|(last_index, last_term)| Body::PreVote {
            last_index,
            last_term
        }),
        any::<bool>().prop_map(|granted| Body::PreVoteResponse { granted }),
        (any::<u64>(), any::<u64>(), any::<bool>()).prop_map(
            |(last_index, last_term, transfer)| {
                Body::Vote {
                    last_index,
                    last_term,
                    transfer,
                }
            }
        ),
        any::<bool>().prop_map(|granted| Body::VoteResponse { granted }),
        (any::<u64>(), any::<u64>(), vec(entry(), 0..4), any::<u64>()).prop_map(
            |(prev_index, prev_term, entries, commit)| Body::Append {
                prev_index,
                prev_term,
                entries,
                commit
            }
        ),
        prop_oneof![
            any::<u64>().prop_map(|match_index| AppendResult::Success { match_index }),
            (any::<u64>(), any::<u64>(), option::of(any::<u64>())).prop_map(
                |(rejected_index, conflict_index, conflict_term)| AppendResult::Reject {
                    rejected_index,
                    conflict_index,
                    conflict_term
                }
            ),
        ]
        .prop_map(Body::AppendResponse),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(prev_index, prev_term, commit)| {
            Body::Commit {
                prev_index,
                prev_term,
                commit,
            }
        }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(commit, read_round)| Body::Heartbeat { commit, read_round }),
        any::<u64>().prop_map(|read_round| Body::HeartbeatResponse { read_round }),
        (snapshot_meta(), any::<u64>(), any::<u64>(), bytes()).prop_map(
            |(meta, offset, total_bytes, data)| Body::Snapshot {
                meta,
                offset,
                total_bytes,
                data
            }
        ),
        (any::<u64>(), any::<u64>()).prop_map(|(index, received_bytes)| Body::SnapshotResponse {
            index,
            received_bytes
        }),
        Just(Body::TimeoutNow),
        bytes().prop_map(|context| Body::ReadIndex { context }),
        (any::<u64>(), bytes())
            .prop_map(|(index, context)| Body::ReadIndexResponse { index, context }),
        any::<u64>().prop_map(|index| Body::Persisted { index }),
    ]
}
fn peer_message() -> impl Strategy<Value = PeerMessage> {
    prop_oneof![
        (any::<u64>(), any::<u64>(), any::<u64>(), body()).prop_map(|(from, to, term, body)| {
            PeerMessage::Consensus(Message {
                from,
                to,
                term,
                body,
            })
        }),
        (any::<u64>(), command()).prop_map(|(forward_id, command)| PeerMessage::Forward {
            forward_id,
            command
        }),
        (
            any::<u64>(),
            prop_oneof![
                (any::<u64>(), any::<u64>())
                    .prop_map(|(zxid, term)| ForwardOutcome::Proposed { zxid, term }),
                option::of(any::<u64>()).prop_map(|leader| ForwardOutcome::NotLeader { leader }),
                Just(ForwardOutcome::Busy),
                ".{0,20}".prop_map(|reason| ForwardOutcome::Refused { reason }),
            ]
        )
            .prop_map(|(forward_id, outcome)| PeerMessage::ForwardResult {
                forward_id,
                outcome
            }),
        vec(any::<i64>(), 0..5).prop_map(|sessions| PeerMessage::SessionHeartbeats { sessions }),
    ]
}
fn link_hello() -> impl Strategy<Value = LinkHello> {
    (any::<u32>(), option::of(".{0,12}")).prop_map(|(protocol_version, cluster_id)| LinkHello {
        protocol_version,
        cluster_id,
    })
}
fn link_welcome() -> impl Strategy<Value = LinkWelcome> {
    (any::<u32>(), ".{0,12}").prop_map(|(protocol_version, cluster_id)| LinkWelcome {
        protocol_version,
        cluster_id,
    })
}

/// Encodes `msg`, frames it, parses the frame back and decodes it.
fn round_trip<M: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(msg: &M) {
    let body = wire::encode(msg).unwrap();
    let mut framed = u32::try_from(body.len()).unwrap().to_le_bytes().to_vec();
    framed.extend_from_slice(&body);
    let FrameHead::Complete {
        body_start,
        body_end,
    } = parse_frame(&framed, BYTES_MAX)
    else {
        panic!("a whole frame must parse");
    };
    assert_eq!(body_end, framed.len());
    let back: M = wire::decode(&framed[body_start..body_end], BYTES_MAX).unwrap();
    assert_eq!(&back, msg);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn client_messages_round_trip(msg in client_message()) { round_trip(&msg); }

    #[test]
    fn server_messages_round_trip(msg in server_message()) { round_trip(&msg); }

    #[test]
    fn peer_messages_round_trip(msg in peer_message()) { round_trip(&msg); }

    #[test]
    fn link_hellos_round_trip(hello in link_hello(), welcome in link_welcome()) {
        round_trip(&hello);
        round_trip(&welcome);
    }

    #[test]
    fn random_bytes_never_panic_a_decoder(bytes in vec(any::<u8>(), 0..512)) {
        let _ = wire::decode::<ClientMessage>(&bytes, BYTES_MAX);
        let _ = wire::decode::<ServerMessage>(&bytes, BYTES_MAX);
        let _ = wire::decode::<PeerMessage>(&bytes, BYTES_MAX);
        let _ = wire::decode::<LinkHello>(&bytes, BYTES_MAX);
        let _ = wire::decode::<LinkWelcome>(&bytes, BYTES_MAX);
        let _ = Message::decode(&bytes, u64::from(BYTES_MAX));
        match parse_frame(&bytes, 256) {
            FrameHead::Incomplete { .. } => prop_assert!(bytes.len() < 4 + 256),
            FrameHead::TooLarge { declared_bytes } => prop_assert!(declared_bytes > 256),
            FrameHead::Complete { body_start, body_end } => {
                prop_assert_eq!(body_start, 4);
                prop_assert!(body_end <= bytes.len() && body_end - body_start <= 256);
            }
        }
    }

    #[test]
    fn mutated_valid_messages_never_panic_a_decoder(
        msg in client_message(), peer in peer_message(), flips in vec((any::<usize>(), any::<u8>()), 1..8)
    ) {
        for mut bytes in [wire::encode(&msg).unwrap(), wire::encode(&peer).unwrap()] {
            for (at, value) in &flips {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] = *value;
                }
            }
            let _ = wire::decode::<ClientMessage>(&bytes, BYTES_MAX);
            let _ = wire::decode::<ServerMessage>(&bytes, BYTES_MAX);
            let _ = wire::decode::<PeerMessage>(&bytes, BYTES_MAX);
            bytes.truncate(bytes.len() / 2);
            let _ = wire::decode::<PeerMessage>(&bytes, BYTES_MAX);
        }
    }
}

#[test]
fn a_client_of_another_version_gets_a_clear_error() {
    assert!(wire::check_client_version(wire::CLIENT_PROTOCOL_VERSION).is_ok());
    let err = wire::check_client_version(99).unwrap_err().to_string();
    assert!(
        err.contains("version mismatch") && err.contains("99") && err.contains('1'),
        "{err}"
    );
}

#[test]
fn an_oversized_body_is_refused_before_decoding() {
    let err = wire::decode::<PeerMessage>(&[0u8; 100], 10).unwrap_err();
    assert!(
        matches!(err, corral_transport::TransportError::FrameTooLarge { .. }),
        "{err}"
    );
}
