//! Tocsin on one machine: everything `make run` needs that AWS would otherwise provide.
//!
//! - [`runner`] serves every HTTP function's router on one port, long-polls every SQS queue
//!   and hands the worker real `SqsEvent`s, and fires the scheduled functions on timers
//!   with EventBridge-shaped events. The functions' code is the same code Lambda runs.
//! - [`bootstrap`] creates the queues, DLQs, bucket and secret `template.yaml` declares,
//!   on the local AWS endpoint.
//! - [`echo_sink`] is a webhook receiver to point demo channels at.
//! - [`bench`] is `make bench`.

pub mod bench;
pub mod bench_notify;
pub mod bootstrap;
pub mod echo_sink;
pub mod runner;
