//! RabbitMQ edge: connecting, declaring the topology, and publishing with confirms.
//!
//! Every outcome is published `mandatory` and persistent on a confirm-mode channel; a publish
//! only counts once the broker acks it *and* did not return it as unroutable.
//!
//! lapin does not tie a `basic.return` to its publish: it hands the oldest pending return to
//! whichever confirm completes next, and a `multiple` ack completes its tags in no fixed order.
//! So outcomes go through a [`Publisher`]: a pool of confirm channels, each carrying one
//! publish at a time, so a return on a channel can only belong to the publish in flight on it.
//! Each publish also carries a unique [`PUBLISH_ID_HEADER`], and a return is believed only
//! when it names that publish (a copy, a delayed retry and a duplicate share a `message_id`,
//! never a publish id).

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use ocr_common::lane::Lane;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{BrokerSettings, QueueType, Settings};

/// Header unique to one publish, so that a returned message can be matched to it.
pub const PUBLISH_ID_HEADER: &str = "ocr-publish-id";
/// Header carrying the paid OCR attempts made so far (not `x-`: `x-death` is broker-owned).
pub const ATTEMPTS_HEADER: &str = "ocr-attempts";
/// Header carrying how many delayed retries through the broker this job has had.
pub const RETRIES_HEADER: &str = "ocr-retries";

/// Failures at the broker edge.
#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    /// Broker or connection error.
    #[error("broker error: {0}")]
    Broker(#[from] lapin::Error),
    /// A broker node accepted no connection in time (the node's index in `AMQP_URL`).
    #[error("broker node {node} did not accept a connection within {after:?}")]
    ConnectTimedOut {
        /// Index of the node in the URL list.
        node: usize,
        /// How long it was given.
        after: std::time::Duration,
    },
    /// A channel of the session closed (e.g. a publish failed or the consumer was cancelled).
    #[error("a broker channel closed; restarting the session")]
    ChannelLost,
    /// A queue already exists with other arguments.
    #[error(
        "queue `{queue}` already exists with different arguments ({detail}); delete it (drain \
         it first), or configure the worker to match it (OCR_QUEUE_TYPE for the work, poison, \
         results and dead-letter queues, OCR_DELAY_QUEUE_TYPE for the `.delay.*` stages)"
    )]
    QueueMismatch {
        /// Queue name.
        queue: String,
        /// Broker's description of the difference.
        detail: String,
    },
    /// The broker returned a message that is not the one this publish sent: the publish's own
    /// fate is unknown, so it does not count as delivered.
    #[error("a returned message did not belong to this publish")]
    ReturnMismatch,
    /// The broker negatively acknowledged a publish.
    #[error("broker refused (nack) a publish to `{exchange}`")]
    Nacked {
        /// The exchange that refused it.
        exchange: String,
    },
    /// A mandatory publish had no queue to go to.
    #[error("publish to exchange `{exchange}` with routing key `{routing_key}` was unroutable")]
    Unroutable {
        /// The exchange it was published to.
        exchange: String,
        /// The routing key no binding matched.
        routing_key: String,
    },
}

/// The CA certificates (PEM) that `amqps://` nodes' certificates chain to, read from
/// `OCR_AMQP_CA_FILE` once at start-up: a private CA, added to the system's trust store. The
/// server's name is still verified against the URL's host.
#[derive(Clone)]
pub struct AmqpCa {
    path: std::path::PathBuf,
    pem: std::sync::Arc<str>,
}

impl AmqpCa {
    /// Read `path`; refused unless it holds at least one PEM certificate.
    pub fn load(path: &std::path::Path) -> Result<AmqpCa, String> {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(format!("{} holds no PEM certificate", path.display()));
        }
        Ok(AmqpCa {
            path: path.to_path_buf(),
            pem: pem.into(),
        })
    }

    fn tls_config(ca: Option<&AmqpCa>) -> lapin::tcp::OwnedTLSConfig {
        lapin::tcp::OwnedTLSConfig {
            identity: None,
            cert_chain: ca.map(|c| c.pem.to_string()),
        }
    }
}

// A certificate is public, but a dump of one is noise: show where it came from.
impl std::fmt::Debug for AmqpCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpCa").field("path", &self.path).finish()
    }
}

/// How long one broker URL may take to accept a connection before the next is tried.
const CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The node that answered last (an index into the URL list), tried first next time.
static LAST_GOOD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The broker URLs of `AMQP_URL`: one, or several separated by commas (the nodes of a cluster).
pub fn broker_urls(url: &str) -> Vec<&str> {
    url.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect()
}

/// Open a connection named after this process. With several URLs (the nodes of a cluster),
/// the one that answered last is tried first, then each other in turn, each for at most
/// [`CONNECT_WAIT`]: losing a node moves every session to the next one on its reconnect.
/// `amqps://` URLs verify the node's certificate against the system's roots plus `ca`.
pub async fn connect(
    url: &SecretString,
    ca: Option<&AmqpCa>,
    name: &str,
) -> Result<Connection, AmqpError> {
    let urls = broker_urls(url.expose_secret());
    let n = urls.len().max(1);
    let first = LAST_GOOD.load(std::sync::atomic::Ordering::Relaxed) % n;
    let mut last_err = None;
    for i in 0..n {
        let idx = (first + i) % n;
        let Some(u) = urls.get(idx) else { break };
        let props = ConnectionProperties::default().with_connection_name(name.into());
        let attempt = Connection::connect_with_config(
            u,
            props,
            AmqpCa::tls_config(ca),
            lapin::runtime::default_runtime()?,
        );
        match tokio::time::timeout(CONNECT_WAIT, attempt).await {
            Ok(Ok(conn)) => {
                LAST_GOOD.store(idx, std::sync::atomic::Ordering::Relaxed);
                return Ok(conn);
            }
            Ok(Err(e)) => {
                if n > 1 {
                    tracing::warn!(node = idx, error = %e, "broker node unreachable; trying the next");
                }
                last_err = Some(AmqpError::Broker(e));
            }
            Err(_) => {
                if n > 1 {
                    tracing::warn!(
                        node = idx,
                        "broker node did not answer in time; trying the next"
                    );
                }
                last_err = Some(AmqpError::ConnectTimedOut {
                    node: idx,
                    after: CONNECT_WAIT,
                });
            }
        }
    }
    Err(last_err.unwrap_or(AmqpError::ConnectTimedOut {
        node: 0,
        after: CONNECT_WAIT,
    }))
}

/// Open a channel with publisher confirms enabled.
pub async fn confirm_channel(conn: &Connection) -> Result<Channel, AmqpError> {
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    Ok(ch)
}

fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert(ShortString::from(*k), v.clone());
    }
    t
}

fn s(v: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(v))
}

/// Name of the delay stage queue for `delay` (e.g. `ocr.jobs.delay.30s`).
pub fn delay_queue_name(jobs_queue: &str, delay: std::time::Duration) -> String {
    let ms = delay.as_millis();
    let label = if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    };
    format!("{jobs_queue}.delay.{label}")
}

/// Arguments of the work queue for `settings`.
pub fn jobs_queue_args(settings: &BrokerSettings) -> FieldTable {
    match settings.queue_type {
        QueueType::Quorum => table(&[
            ("x-queue-type", s("quorum")),
            (
                "x-delivery-limit",
                AMQPValue::LongLongInt(i64::from(settings.delivery_limit)),
            ),
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s(&settings.poison_queue)),
            // At-least-once dead-lettering needs reject-publish overflow (and the
            // stream_queue feature flag on 3.10); otherwise the broker falls back to at-most-once.
            ("x-dead-letter-strategy", s("at-least-once")),
            ("x-overflow", s("reject-publish")),
        ]),
        QueueType::Classic => table(&[
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s(&settings.poison_queue)),
        ]),
    }
}

/// The delivery limit of the quorum queues that hold outcomes: a billion returns, never reached
/// (a limit is set at all because RabbitMQ 4 defaults to 20 where none is given).
pub const HOLDING_DELIVERY_LIMIT: i64 = 1_000_000_000;

/// Arguments of the queues that hold what the worker produces or relays: the poison, results
/// and dead-letter queues. They follow `queue_type`: on a cluster a classic queue lives on one
/// node and dies with it, taking its results or dead letters along, so by default they are
/// quorum queues (replicated, no delivery limit). `OCR_QUEUE_TYPE=classic` keeps them classic
/// for a single node.
///
/// Their delivery limit is [`HOLDING_DELIVERY_LIMIT`], in effect none: `ocr-worker dlq` reads by
/// `basic.get` and requeues, which a quorum queue counts as a delivery, and RabbitMQ 4 gives
/// quorum queues a default limit of 20 that would drop dead letters after 20 reads.
pub fn holding_queue_args(settings: &BrokerSettings) -> FieldTable {
    match settings.queue_type {
        QueueType::Quorum => table(&[
            ("x-queue-type", s("quorum")),
            (
                "x-delivery-limit",
                AMQPValue::LongLongInt(HOLDING_DELIVERY_LIMIT),
            ),
        ]),
        QueueType::Classic => FieldTable::default(),
    }
}

/// Arguments of the delay stage of length `delay` for the work queue `lane_queue`: its copies
/// expire back into that queue (each lane has its own stages, so a priority retry comes back
/// to the priority lane). With `delay_queue_type = quorum` (the default follows `queue_type`) the stage is a replicated quorum queue whose expiry
/// dead-letters at least once (the broker keeps a copy until the work queue has it; this needs
/// `reject-publish` overflow and the `stream_queue` feature flag on 3.10, or it silently falls
/// back to at-most-once). With `classic` it is a classic queue (at-most-once: a node crash
/// between expiry and the work queue's confirm loses the copy).
pub fn delay_queue_args(
    settings: &BrokerSettings,
    lane_queue: &str,
    delay: std::time::Duration,
) -> FieldTable {
    let mut args = table(&[
        (
            "x-message-ttl",
            AMQPValue::LongLongInt(delay.as_millis().try_into().unwrap_or(i64::MAX)),
        ),
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s(lane_queue)),
    ]);
    if settings.delay_queue_type == QueueType::Quorum {
        for (k, v) in [
            ("x-queue-type", "quorum"),
            ("x-dead-letter-strategy", "at-least-once"),
            ("x-overflow", "reject-publish"),
        ] {
            args.insert(ShortString::from(k), s(v));
        }
    }
    args
}

/// Whether a declared queue may carry `x-expires` (`OCR_QUEUE_EXPIRES_SECS`). The broker
/// deletes an expired queue with its messages, and a queue nobody consumes (the outcome queues,
/// the delay stages) would expire while it holds results, dead letters or retries in flight:
/// those never get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// A queue the workers consume (the work and poison queues): expiry is allowed.
    Consumed,
    /// A queue that holds outcomes or retries: never expires.
    Holds,
}

async fn declare_queue(
    conn: &Connection,
    settings: &BrokerSettings,
    name: &str,
    mut args: FieldTable,
    expiry: Expiry,
) -> Result<(), AmqpError> {
    if let Some(expires) = settings
        .queue_expires
        .filter(|_| expiry == Expiry::Consumed)
    {
        args.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(i64::try_from(expires.as_millis()).unwrap_or(i64::MAX)),
        );
    }
    // A failed declare closes the channel, so each declare gets its own.
    let ch = conn.create_channel().await?;
    let res = ch
        .queue_declare(name.into(), QueueDeclareOptions::durable(), args)
        .await;
    match res {
        Ok(_) => {
            let _ = ch.close(200, "declared".into()).await;
            Ok(())
        }
        Err(e) => {
            let text = e.to_string();
            if text.contains("PRECONDITION_FAILED") || text.contains("inequivalent arg") {
                Err(AmqpError::QueueMismatch {
                    queue: name.to_string(),
                    detail: text
                        .split("inequivalent")
                        .nth(1)
                        .map(|d| format!("inequivalent{d}"))
                        .unwrap_or(text),
                })
            } else {
                Err(e.into())
            }
        }
    }
}

/// Declare everything the worker needs, idempotently: the two lanes' work queues, their poison
/// queue, each lane's delay stages, the outcome exchanges and (unless turned off) the outcome queues and bindings.
pub async fn declare_topology(conn: &Connection, all: &Settings) -> Result<(), AmqpError> {
    let settings = &all.broker;
    declare_queue(
        conn,
        settings,
        &settings.poison_queue,
        holding_queue_args(settings),
        Expiry::Consumed,
    )
    .await?;
    // Both lanes: the same kind of queue, the same poison queue, stages of their own.
    for lane in Lane::ALL {
        let queue = settings.queue(lane);
        declare_queue(
            conn,
            settings,
            queue,
            jobs_queue_args(settings),
            Expiry::Consumed,
        )
        .await?;
        for &d in &all.retry.policy.delays {
            let name = delay_queue_name(queue, d);
            let args = delay_queue_args(settings, queue, d);
            declare_queue(conn, settings, &name, args, Expiry::Holds).await?;
        }
    }
    let ch = conn.create_channel().await?;
    for ex in [&settings.results_exchange, &settings.dead_exchange] {
        ch.exchange_declare(
            ex.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    }
    if settings.declare_outcome_queues {
        for queue in [&settings.results_queue, &settings.dead_queue] {
            let args = holding_queue_args(settings);
            declare_queue(conn, settings, queue, args, Expiry::Holds).await?;
        }
        ch.queue_bind(
            settings.results_queue.as_str().into(),
            settings.results_exchange.as_str().into(),
            settings.results_routing_key.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
        ch.queue_bind(
            settings.dead_queue.as_str().into(),
            settings.dead_exchange.as_str().into(),
            "dead.#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    let _ = ch.close(200, "declared".into()).await;
    Ok(())
}

/// One outgoing message.
pub struct Outgoing<'a> {
    /// Exchange (`""` for the default exchange).
    pub exchange: &'a str,
    /// Routing key.
    pub routing_key: &'a str,
    /// The message bytes (JSON).
    pub body: &'a [u8],
    /// AMQP `message_id` (deduplication key).
    pub message_id: &'a str,
    /// AMQP `correlation_id`, copied from the job.
    pub correlation_id: Option<&'a str>,
    /// Extra headers.
    pub headers: Option<FieldTable>,
}

/// Publish persistent + mandatory and wait for the broker's confirm. `Ok` only if the broker
/// acked and did not return the message. On a channel shared by concurrent publishes a return
/// may be handed to the wrong one (see the module docs): outcomes use [`Publisher`].
pub async fn publish_confirmed(ch: &Channel, msg: Outgoing<'_>) -> Result<(), AmqpError> {
    let publish_id = uuid::Uuid::new_v4().simple().to_string();
    let mut headers = msg.headers.unwrap_or_default();
    headers.insert(
        ShortString::from(PUBLISH_ID_HEADER),
        AMQPValue::LongString(LongString::from(publish_id.as_str())),
    );
    let mut props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(msg.message_id.into())
        .with_timestamp(chrono::Utc::now().timestamp().try_into().unwrap_or(0))
        .with_headers(headers);
    if let Some(c) = msg.correlation_id {
        props = props.with_correlation_id(c.into());
    }
    let confirm = ch
        .basic_publish(
            msg.exchange.into(),
            msg.routing_key.into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            msg.body,
            props,
        )
        .await?
        .await?;
    match confirm {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(returned))
            if header_str(&returned.properties, PUBLISH_ID_HEADER).as_deref()
                == Some(publish_id.as_str()) =>
        {
            Err(AmqpError::Unroutable {
                exchange: msg.exchange.to_string(),
                routing_key: msg.routing_key.to_string(),
            })
        }
        Confirmation::Ack(Some(_)) => Err(AmqpError::ReturnMismatch),
        Confirmation::Nack(_) | Confirmation::NotRequested => Err(AmqpError::Nacked {
            exchange: msg.exchange.to_string(),
        }),
    }
}

/// Read a string header.
pub fn header_str(props: &BasicProperties, name: &str) -> Option<String> {
    match props
        .headers()
        .as_ref()?
        .inner()
        .get(&ShortString::from(name))?
    {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

/// A pool of confirm channels that carry one publish each at a time, so that a returned
/// message on a channel can only be the one publish in flight there. Cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    inner: std::sync::Arc<PublisherInner>,
}

struct PublisherInner {
    free: std::sync::Mutex<Vec<Channel>>,
    slots: tokio::sync::Semaphore,
}

/// A channel taken from the pool; it goes back only when its publish ran to the end, so a
/// publish cut off mid-way (its task aborted) never leaves a stray confirm for the next one.
struct Lease<'a> {
    pool: &'a PublisherInner,
    channel: Option<Channel>,
    permit: Option<tokio::sync::SemaphorePermit<'a>>,
    finished: bool,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        match (self.finished, self.channel.take()) {
            (true, Some(ch)) => self
                .pool
                .free
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(ch),
            _ => {
                if let Some(p) = self.permit.take() {
                    p.forget();
                }
            }
        }
    }
}

impl Publisher {
    /// Open `channels` confirm channels on `conn` (at least one).
    pub async fn open(conn: &Connection, channels: usize) -> Result<Self, AmqpError> {
        let n = channels.max(1);
        let mut free = Vec::with_capacity(n);
        for _ in 0..n {
            free.push(confirm_channel(conn).await?);
        }
        Ok(Publisher {
            inner: std::sync::Arc::new(PublisherInner {
                free: std::sync::Mutex::new(free),
                slots: tokio::sync::Semaphore::new(n),
            }),
        })
    }

    /// [`publish_confirmed`] on a channel of its own for the duration of this publish.
    pub async fn publish(&self, msg: Outgoing<'_>) -> Result<(), AmqpError> {
        let pool = &*self.inner;
        let permit = pool
            .slots
            .acquire()
            .await
            .map_err(|_| AmqpError::ChannelLost)?;
        let channel = pool.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut lease = Lease {
            pool,
            channel,
            permit: Some(permit),
            finished: false,
        };
        let Some(ch) = lease.channel.clone() else {
            return Err(AmqpError::ChannelLost);
        };
        let res = publish_confirmed(&ch, msg).await;
        lease.finished = true;
        res
    }

    /// Close every channel in the pool at once, within `limit` in all.
    pub async fn close(&self, limit: std::time::Duration) {
        let channels: Vec<Channel> =
            std::mem::take(&mut *self.inner.free.lock().unwrap_or_else(|e| e.into_inner()));
        let closes = channels.iter().map(|ch| ch.close(200, "shutdown".into()));
        bounded(
            limit,
            "close publish channels",
            futures::future::join_all(closes),
        )
        .await;
    }
}

/// Read a non-negative integer header (any AMQP integer type).
pub fn header_u32(props: &BasicProperties, name: &str) -> u32 {
    let Some(headers) = props.headers() else {
        return 0;
    };
    let v = headers.inner().get(&ShortString::from(name));
    let n: i64 = match v {
        Some(AMQPValue::ShortShortInt(v)) => i64::from(*v),
        Some(AMQPValue::ShortShortUInt(v)) => i64::from(*v),
        Some(AMQPValue::ShortInt(v)) => i64::from(*v),
        Some(AMQPValue::ShortUInt(v)) => i64::from(*v),
        Some(AMQPValue::LongInt(v)) => i64::from(*v),
        Some(AMQPValue::LongUInt(v)) => i64::from(*v),
        Some(AMQPValue::LongLongInt(v)) => *v,
        _ => 0,
    };
    n.clamp(0, i64::from(u32::MAX)) as u32
}

/// Quorum queues' count of a message's earlier unsettled returns (absent on a first delivery).
pub const DELIVERY_COUNT_HEADER: &str = "x-delivery-count";

/// How often the broker says `delivery` has been handed out before: a quorum queue's
/// `x-delivery-count`, or a classic queue's `redelivered` flag.
pub fn returns(delivery: &lapin::message::Delivery) -> ocr_common::retry::Returns {
    ocr_common::retry::Returns::from_broker(
        header_u32(&delivery.properties, DELIVERY_COUNT_HEADER),
        delivery.redelivered,
    )
}

/// The job's W3C `traceparent` header, if it carries a valid one (an invalid one is dropped).
pub fn traceparent(props: &BasicProperties) -> Option<ocr_common::trace::TraceParent> {
    let v = props
        .headers()
        .as_ref()?
        .inner()
        .get(&ShortString::from(ocr_common::trace::TRACEPARENT))?;
    let text = match v {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.to_string(),
        _ => return None,
    };
    ocr_common::trace::TraceParent::parse(&text)
}

/// `headers` with the job's `traceparent` added (when it has one).
pub fn with_traceparent(
    headers: Option<FieldTable>,
    trace: Option<&ocr_common::trace::TraceParent>,
) -> Option<FieldTable> {
    let Some(t) = trace else {
        return headers;
    };
    let mut h = headers.unwrap_or_default();
    h.insert(
        ShortString::from(ocr_common::trace::TRACEPARENT),
        s(t.as_str()),
    );
    Some(h)
}

/// Headers for a delayed retry.
pub fn retry_headers(attempts: u32, retries: u32) -> FieldTable {
    table(&[
        (ATTEMPTS_HEADER, AMQPValue::LongLongInt(i64::from(attempts))),
        (RETRIES_HEADER, AMQPValue::LongLongInt(i64::from(retries))),
    ])
}

/// How long a close may wait for the broker's close-ok.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Run a channel or connection close, giving up after a few seconds: a close waits for the
/// broker's answer, and a lost answer must never hold up a shutdown or a reconnect (the
/// socket is dropped anyway, and the broker requeues whatever was unacked).
pub async fn close_bounded<T>(close: impl std::future::Future<Output = T>) {
    bounded(CLOSE_WAIT, "close", close).await;
}

/// How long a broker call on the shutdown path may wait: during a resource alarm the broker
/// blocks the connection and lapin writes no frames, so an unbounded `basic.cancel` or close
/// would hold the process past its grace period.
pub const SHUTDOWN_CALL_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Run a broker call, giving up after `limit` (logged as `what`); `None` when it gave up.
pub async fn bounded<T>(
    limit: std::time::Duration,
    what: &str,
    call: impl std::future::Future<Output = T>,
) -> Option<T> {
    match tokio::time::timeout(limit, call).await {
        Ok(v) => Some(v),
        Err(_) => {
            tracing::warn!(
                call = what,
                "broker did not answer in time; giving up on it"
            );
            None
        }
    }
}
