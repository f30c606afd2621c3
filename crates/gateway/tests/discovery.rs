//! DNS discovery against a name server on a loopback socket: SRV records become instances at
//! the ports they name, the lowest priority only.

mod support;

use axum::http::StatusCode;
use hickory_resolver::proto::op::{Message, MessageType};
use hickory_resolver::proto::rr::rdata::{A, SRV};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use std::net::SocketAddr;
use support::*;

/// A name server answering `srv_name` with a priority-0 record for `host.svc.test.` at
/// `port` and a priority-5 record for a port nothing listens on, and `host.svc.test.` with
/// 127.0.0.1.
async fn name_server(srv_name: &'static str, port: u16) -> SocketAddr {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let host = Name::from_ascii("host.svc.test.").unwrap();
    let srv = Name::from_ascii(srv_name).unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::new();
            r.set_id(q.id())
                .set_message_type(MessageType::Response)
                .set_op_code(q.op_code())
                .set_recursion_desired(q.recursion_desired())
                .set_recursion_available(true)
                .set_authoritative(true);
            for query in q.queries() {
                r.add_query(query.clone());
                let name = query.name().clone();
                match query.query_type() {
                    RecordType::SRV if name == srv => {
                        r.add_answer(Record::from_rdata(
                            name.clone(),
                            1,
                            RData::SRV(SRV::new(0, 10, port, host.clone())),
                        ));
                        r.add_answer(Record::from_rdata(
                            name,
                            1,
                            RData::SRV(SRV::new(5, 10, 1, host.clone())),
                        ));
                    }
                    RecordType::A if name == host => {
                        r.add_answer(Record::from_rdata(name, 1, RData::A(A::new(127, 0, 0, 1))));
                    }
                    _ => {}
                }
            }
            let _ = sock.send_to(&r.to_vec().unwrap(), peer).await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_records_become_instances_at_their_ports() {
    let a = Upstream::start("a").await;
    let ns = name_server("_http._tcp.svc.test.", a.addr.port()).await;
    let mut cfg = config();
    cfg.dns_interval_ms = 50;
    cfg.dns_servers = vec![ns.to_string()];
    let catalogue = "[[service]]\nid = \"svc\"\nname = \"svc\"\ncategory = \"infrastructure\"\n\
                     port = 1\nprovider = \"upstream\"\ndns = \"_http._tcp.svc.test.\"\n";
    let (gw, base) = gateway(cfg, catalogue).await;
    let _tasks = gw.start();
    let client = client();

    let instances = std::sync::Mutex::new(serde_json::Value::Null);
    eventually(|| async {
        let view = admin_get(&client, &format!("{base}/api/gateway/services/svc/health")).await;
        let found = view.json()["instances"].clone();
        let done = found.as_array().is_some_and(|i| !i.is_empty());
        *instances.lock().unwrap() = found;
        done
    })
    .await;
    let instances = instances.into_inner().unwrap();
    let instances = instances.as_array().expect("instances discovered");
    assert_eq!(
        instances.len(),
        1,
        "only the lowest priority: {instances:?}"
    );
    assert_eq!(
        instances[0]["url"],
        format!("http://127.0.0.1:{}", a.addr.port())
    );
    assert_eq!(instances[0]["source"], "dns");

    let res = get(&client, &format!("{base}/api/gateway/proxy/svc/hello")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.text(), "hello from a");
}
