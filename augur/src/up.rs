//! `augur up`, `augur agent` and `augur server`: the long-running roles,
//! composed from the component libraries exactly as a fleet runs them.
//!
//! [`args`] holds the clap structs and how they become configs;
//! [`daemon`] starts the servers and the agent and stops them in order.

mod args;
mod daemon;

pub use args::{AgentArgs, ServerArgs, UpArgs};
pub use daemon::{run_agent, run_server, run_up};
