//! A merged profile as the prefix tree of its stacks.
//!
//! A [`Profile`] spells every stack out, leaf first: a 9,000-stack profile
//! 20 frames deep is 180,000 [`Location`]s, most of them copies of the same
//! few. Storage keeps stacks as a prefix tree anyway, and a flame graph is
//! built from one, so [`StackTree`] hands that tree over as it is: each
//! distinct location once, each node once with its parent, and the samples
//! that end at it. Nothing is spelled out twice.

use std::collections::HashMap;

use crate::{Location, Profile, ProfileType};

/// A node's parent when it hangs off the (unnamed) root.
pub const ROOT: u32 = u32::MAX;

/// One node of a [`StackTree`]: a location called from its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackNode {
    /// Index of the parent node, or [`ROOT`]. Always smaller than this
    /// node's own index: parents come first.
    pub parent: u32,
    /// Index into [`StackTree::locations`].
    pub location: u32,
    /// Samples whose stack ends here (the node's self count).
    pub count: u64,
}

/// A merged profile as a prefix tree of locations, root first.
#[derive(Clone, Debug, PartialEq)]
pub struct StackTree {
    /// Service the samples belong to.
    pub service: String,
    /// What a sample measures.
    pub profile_type: ProfileType,
    /// Value of one sample in the type's unit.
    pub period: u64,
    /// Start of the range, Unix nanoseconds.
    pub start_unix_nanos: i64,
    /// End of the range, Unix nanoseconds.
    pub end_unix_nanos: i64,
    /// Distinct locations.
    pub locations: Vec<Location>,
    /// Nodes, each after its parent.
    pub nodes: Vec<StackNode>,
    /// Samples with an empty stack (no frame to charge them to).
    pub root_count: u64,
}

impl StackTree {
    /// An empty tree with `profile`'s head (service, type, period, range).
    pub fn empty_like(profile: &Profile) -> Self {
        Self {
            service: profile.service.clone(),
            profile_type: profile.profile_type.clone(),
            period: profile.period,
            start_unix_nanos: profile.start_unix_nanos,
            end_unix_nanos: profile.end_unix_nanos,
            locations: Vec::new(),
            nodes: Vec::new(),
            root_count: 0,
        }
    }

    /// The tree of `profile`'s stacks: identical locations shared, common
    /// prefixes merged, counts of identical stacks added.
    pub fn from_profile(profile: &Profile) -> Self {
        let mut tree = Self::empty_like(profile);
        let mut location_index: HashMap<&Location, u32> = HashMap::new();
        let mut child: HashMap<(u32, u32), u32> = HashMap::new();
        for sample in &profile.samples {
            let mut node = ROOT;
            for location in sample.locations.iter().rev() {
                let index = *location_index.entry(location).or_insert_with(|| {
                    tree.locations.push(location.clone());
                    (tree.locations.len() - 1) as u32
                });
                node = *child.entry((node, index)).or_insert_with(|| {
                    tree.nodes.push(StackNode {
                        parent: node,
                        location: index,
                        count: 0,
                    });
                    (tree.nodes.len() - 1) as u32
                });
            }
            let count = match node {
                ROOT => &mut tree.root_count,
                node => &mut tree.nodes[node as usize].count,
            };
            *count = count.saturating_add(sample.count);
        }
        tree
    }

    /// Samples in the tree.
    pub fn total(&self) -> u64 {
        self.nodes
            .iter()
            .fold(self.root_count, |sum, node| sum.saturating_add(node.count))
    }

    /// Whether every node's parent comes before it and every index is in
    /// range: what a consumer may rely on.
    pub fn is_well_formed(&self) -> bool {
        self.nodes.iter().enumerate().all(|(i, node)| {
            (node.parent == ROOT || (node.parent as usize) < i)
                && (node.location as usize) < self.locations.len()
        })
    }

    /// The stacks again, leaf first, with their counts (nodes without
    /// samples ending at them are only prefixes and give none).
    pub fn stacks(&self) -> Vec<(Vec<&Location>, u64)> {
        let mut out = Vec::new();
        if self.root_count > 0 {
            out.push((Vec::new(), self.root_count));
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if node.count == 0 {
                continue;
            }
            let mut stack = Vec::new();
            let mut at = i as u32;
            while at != ROOT {
                let n = &self.nodes[at as usize];
                stack.push(&self.locations[n.location as usize]);
                at = n.parent;
            }
            out.push((stack, node.count));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RawFrame, Sample};

    fn kernel(name: &str) -> Location {
        Location {
            frame: RawFrame::Kernel {
                function: name.into(),
                module: None,
            },
            path: None,
            symbols: vec![],
        }
    }

    fn profile(samples: Vec<(Vec<&str>, u64)>) -> Profile {
        Profile {
            service: "svc".into(),
            profile_type: ProfileType {
                name: "cpu".into(),
                unit: "nanoseconds".into(),
            },
            period: 10,
            start_unix_nanos: 0,
            end_unix_nanos: 1,
            samples: samples
                .into_iter()
                .map(|(names, count)| Sample {
                    locations: names.into_iter().map(kernel).collect(),
                    count,
                })
                .collect(),
        }
    }

    #[test]
    fn prefixes_and_locations_are_shared_and_stacks_come_back() {
        // Leaf first, as in a profile.
        let p = profile(vec![
            (vec!["c", "b", "main"], 3),
            (vec!["d", "b", "main"], 2),
            (vec!["b", "main"], 1),
            (vec!["c", "b", "main"], 4),
        ]);
        let tree = StackTree::from_profile(&p);
        assert!(tree.is_well_formed());
        assert_eq!(tree.locations.len(), 4, "main, b, c, d once each");
        assert_eq!(tree.nodes.len(), 4, "main, main/b, main/b/c, main/b/d");
        assert_eq!(tree.total(), 10);
        let mut stacks: Vec<(Vec<String>, u64)> = tree
            .stacks()
            .into_iter()
            .map(|(locations, count)| {
                let names = locations.iter().map(|l| l.names().join(";")).collect();
                (names, count)
            })
            .collect();
        stacks.sort();
        let want = |names: &[&str], count| (names.iter().map(|s| s.to_string()).collect(), count);
        assert_eq!(
            stacks,
            vec![
                want(&["b", "main"], 1),
                want(&["c", "b", "main"], 7),
                want(&["d", "b", "main"], 2),
            ]
        );
    }

    #[test]
    fn an_empty_stack_counts_at_the_root_and_a_bad_parent_is_caught() {
        let tree = StackTree::from_profile(&profile(vec![(vec![], 5)]));
        assert!(tree.nodes.is_empty());
        assert_eq!((tree.root_count, tree.total()), (5, 5));
        let mut bad = StackTree::from_profile(&profile(vec![(vec!["a", "main"], 1)]));
        bad.nodes[0].parent = 1;
        assert!(!bad.is_well_formed());
    }
}
