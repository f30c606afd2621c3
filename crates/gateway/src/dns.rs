//! Discovery by DNS: a service's `dns` name becomes its instances' addresses.
//!
//! `host[:port]` is resolved through the system resolver (A/AAAA; a Kubernetes headless
//! service answers with one address per ready pod). `_service._proto.name` is an SRV name (a
//! Kubernetes service's named port, say `_http._tcp.api.default.svc.cluster.local`): its
//! records of the lowest priority give targets and ports, and each target's addresses become
//! instances at that port. Weights are not used; the service's own balancing spreads the load.

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;
use std::net::SocketAddr;
use std::sync::OnceLock;

/// The SRV resolver, built on first use.
pub(crate) struct Dns {
    servers: Vec<String>,
    resolver: OnceLock<Result<TokioResolver, String>>,
}

impl Dns {
    /// `servers`: name servers (`ip:port`) for SRV lookups; empty for the system's.
    pub fn new(servers: Vec<String>) -> Self {
        Self {
            servers,
            resolver: OnceLock::new(),
        }
    }

    /// The addresses `name` stands for now.
    pub async fn resolve(&self, name: &str, default_port: u16) -> Result<Vec<SocketAddr>, String> {
        if is_srv(name) {
            return self.srv(name).await;
        }
        let target = if name
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            name.to_owned()
        } else {
            format!("{name}:{default_port}")
        };
        let addrs = tokio::net::lookup_host(target.as_str())
            .await
            .map_err(|e| format!("{target}: {e}"))?;
        Ok(addrs.collect())
    }

    async fn srv(&self, name: &str) -> Result<Vec<SocketAddr>, String> {
        let resolver = self
            .resolver
            .get_or_init(|| build(&self.servers))
            .as_ref()
            .map_err(Clone::clone)?;
        let records = resolver
            .srv_lookup(name)
            .await
            .map_err(|e| format!("SRV {name}: {e}"))?;
        let best = records.iter().map(|r| r.priority()).min();
        let mut addrs = Vec::new();
        for r in records.iter().filter(|r| Some(r.priority()) == best) {
            let ips = resolver
                .lookup_ip(r.target().clone())
                .await
                .map_err(|e| format!("{}: {e}", r.target()))?;
            addrs.extend(ips.iter().map(|ip| SocketAddr::new(ip, r.port())));
        }
        Ok(addrs)
    }
}

/// `_service._proto.name`: labels starting with '_' are never host names (RFC 2782).
fn is_srv(name: &str) -> bool {
    name.starts_with('_')
}

fn build(servers: &[String]) -> Result<TokioResolver, String> {
    if servers.is_empty() {
        return TokioResolver::builder_tokio()
            .map(|b| b.build())
            .map_err(|e| format!("system resolver configuration: {e}"));
    }
    let mut group = NameServerConfigGroup::new();
    for s in servers {
        let addr: SocketAddr = s
            .parse()
            .map_err(|_| format!("dns_servers: `{s}` is not an ip:port"))?;
        group.merge(NameServerConfigGroup::from_ips_clear(
            &[addr.ip()],
            addr.port(),
            true,
        ));
    }
    let config = ResolverConfig::from_parts(None, Vec::new(), group);
    Ok(TokioResolver::builder_with_config(config, TokioConnectionProvider::default()).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srv_names_are_told_from_host_names() {
        assert!(is_srv("_http._tcp.api.default.svc.cluster.local"));
        assert!(!is_srv("api.default.svc.cluster.local:8080"));
        assert!(!is_srv("localhost"));
    }

    #[tokio::test]
    async fn host_names_resolve_with_the_default_port() {
        let dns = Dns::new(Vec::new());
        let addrs = dns.resolve("127.0.0.1", 8081).await.unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:8081".parse().unwrap()]);
        let addrs = dns.resolve("127.0.0.1:9", 8081).await.unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:9".parse().unwrap()]);
    }

    #[tokio::test]
    async fn bad_name_servers_are_reported() {
        let dns = Dns::new(vec!["not-an-address".into()]);
        let err = dns.resolve("_http._tcp.x.test.", 80).await.unwrap_err();
        assert!(err.contains("not-an-address"), "{err}");
    }
}
