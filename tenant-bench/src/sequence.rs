//! The pre-generated (tenant, id) draws every arm replays, so the arms see
//! exactly the same work: one uniform sequence per client for most arms, one
//! Zipf(1.0) sequence per client for the Zipf arm. Fixed seeds make runs
//! comparable.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

use crate::Args;

/// One point query: benchmark tenant index and row id (`1..=R`).
#[derive(Debug, Clone, Copy)]
pub struct Draw {
    /// Index into the benchmark tenants.
    pub tenant: u32,
    /// The row id.
    pub id: u32,
}

/// Draws per client; a client that runs past the end wraps around.
pub type Sequence = Vec<Draw>;

/// All clients' sequences.
pub struct Sequences {
    /// Uniform tenants, one sequence per client.
    pub uniform: Arc<Vec<Sequence>>,
    /// Zipf(1.0) tenants (rank 1 = a randomly chosen tenant), one per client.
    pub zipf: Arc<Vec<Sequence>>,
    /// A short, separate sequence for warming connections up.
    pub warmup: Sequence,
}

const SEED: u64 = 0x7465_6e61_6e74_2d62;
/// Upper bound of a client's measured query rate the sequences are sized
/// for; beyond it they wrap (still identical across arms).
const MAX_CLIENT_QPS: u64 = 40_000;
const MAX_DRAWS: u64 = 4_000_000;

impl Sequences {
    /// Generates the sequences for `args` (deterministic).
    pub fn generate(args: &Args) -> Sequences {
        let tenants = args.tenants;
        let rows = args.rows_per_tenant;
        let length = (u64::from(args.seconds) * MAX_CLIENT_QPS).clamp(10_000, MAX_DRAWS) as usize;
        let mut rng = StdRng::seed_from_u64(SEED);
        // Hot tenants are a random set, not the oldest (lowest partition
        // numbers), so rank r maps through a fixed permutation.
        let mut permutation: Vec<u32> = (0..tenants).collect();
        permutation.shuffle(&mut rng);
        // n >= 1 and s = 1.0 are always valid parameters.
        let distribution = Zipf::new(f64::from(tenants), 1.0).ok();
        let uniform: Vec<Sequence> = (0..args.clients)
            .map(|_| {
                (0..length)
                    .map(|_| Draw {
                        tenant: rng.random_range(0..tenants),
                        id: rng.random_range(1..=rows),
                    })
                    .collect()
            })
            .collect();
        let zipf: Vec<Sequence> = (0..args.clients)
            .map(|_| {
                (0..length)
                    .map(|_| {
                        let rank = distribution
                            .as_ref()
                            .map(|z| z.sample(&mut rng) as u32)
                            .unwrap_or(1)
                            .clamp(1, tenants);
                        Draw {
                            tenant: permutation[(rank - 1) as usize],
                            id: rng.random_range(1..=rows),
                        }
                    })
                    .collect()
            })
            .collect();
        let warmup = (0..256)
            .map(|_| Draw {
                tenant: rng.random_range(0..tenants),
                id: rng.random_range(1..=rows),
            })
            .collect();
        Sequences {
            uniform: Arc::new(uniform),
            zipf: Arc::new(zipf),
            warmup,
        }
    }
}
