//! `augur up`, `augur agent` and `augur server`: the long-running roles,
//! composed from the component libraries exactly as a fleet runs them.
//!
//! [`args`] holds the clap structs and how they become configs, [`config`]
//! the server's configuration file, which stands for flags;
//! [`daemon`] starts the servers and the agent and stops them in order.

mod args;
mod config;
mod daemon;

pub use args::{AgentArgs, ServerArgs, UpArgs};
pub use daemon::{run_agent, run_server, run_up};
