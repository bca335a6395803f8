//! Flame graphs in Pyroscope's "levels" layout, the one Grafana draws.
//!
//! Stacks of function names (callers first) are merged into a tree whose
//! root is `total`. Each level of the tree becomes a row of numbers, four
//! per bar: the gap since the end of the previous bar in the row, the
//! bar's total, its self value and the index of its name. A diff keeps two
//! sides on the same bars, seven numbers each (gap, total, self for the
//! left side, the same for the right, then the name). Only the
//! `max_nodes` heaviest nodes are kept; what is cut from under a node is
//! one `other` bar, so totals never change.

use std::collections::HashMap;

use augur_wire::pyroscope::querier::v1 as q;

/// Nodes kept when the request names no bound (Grafana's own default).
pub const DEFAULT_MAX_NODES: usize = 16_384;

/// Most nodes anyone may ask for.
const MAX_MAX_NODES: usize = 1 << 20;

/// The name of the bar that stands for cut nodes.
pub const OTHER: &str = "other";

#[derive(Debug)]
struct Node {
    name: u32,
    /// Per side: the node with everything under it, and the node alone.
    total: [u64; 2],
    own: [u64; 2],
    children: Vec<u32>,
}

/// A tree of name stacks with up to two sides.
#[derive(Debug)]
pub struct NameTree {
    names: Vec<String>,
    name_index: HashMap<String, u32>,
    nodes: Vec<Node>,
    child: HashMap<(u32, u32), u32>,
}

impl Default for NameTree {
    fn default() -> Self {
        let mut tree = Self {
            names: Vec::new(),
            name_index: HashMap::new(),
            nodes: Vec::new(),
            child: HashMap::new(),
        };
        let root = tree.intern("total");
        tree.nodes.push(Node {
            name: root,
            total: [0; 2],
            own: [0; 2],
            children: Vec::new(),
        });
        tree
    }
}

impl NameTree {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.name_index.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.name_index.insert(name.to_owned(), i);
        i
    }

    /// Adds `value` for a stack of names, caller first, on `side` (0 for a
    /// plain flame graph and a diff's left, 1 for a diff's right).
    pub fn add(&mut self, stack: &[String], value: u64, side: usize) {
        let mut node = 0u32;
        self.nodes[0].total[side] = self.nodes[0].total[side].saturating_add(value);
        for name in stack {
            let name = self.intern(name);
            node = match self.child.get(&(node, name)) {
                Some(&c) => c,
                None => {
                    let c = self.nodes.len() as u32;
                    self.nodes.push(Node {
                        name,
                        total: [0; 2],
                        own: [0; 2],
                        children: Vec::new(),
                    });
                    self.nodes[node as usize].children.push(c);
                    self.child.insert((node, name), c);
                    c
                }
            };
            let n = &mut self.nodes[node as usize];
            n.total[side] = n.total[side].saturating_add(value);
        }
        let n = &mut self.nodes[node as usize];
        n.own[side] = n.own[side].saturating_add(value);
    }

    /// The total of a side.
    pub fn total(&self, side: usize) -> u64 {
        self.nodes[0].total[side]
    }

    /// The smallest weight a node needs to be kept among `max_nodes`.
    fn threshold(&self, max_nodes: usize) -> u64 {
        if self.nodes.len() <= max_nodes + 1 {
            return 0;
        }
        let mut weights: Vec<u64> = self.nodes[1..]
            .iter()
            .map(|n| n.total[0].saturating_add(n.total[1]))
            .collect();
        let (_, nth, _) =
            weights.select_nth_unstable_by(max_nodes.saturating_sub(1), |a, b| b.cmp(a));
        (*nth).max(1)
    }

    /// The bars row by row: `(name, total, self)` per side, in the order
    /// Grafana reads them (each row left to right, children under their
    /// parent, siblings by name).
    fn rows(&self, max_nodes: Option<i64>) -> Vec<Vec<Bar>> {
        let max_nodes = match max_nodes {
            Some(n) if n > 0 => usize::try_from(n)
                .unwrap_or(MAX_MAX_NODES)
                .min(MAX_MAX_NODES),
            _ => DEFAULT_MAX_NODES,
        };
        let threshold = self.threshold(max_nodes);
        let mut rows: Vec<Vec<Bar>> = Vec::new();
        // Depth-first, children in name order, so each row is left to right.
        let mut stack: Vec<(Bar, usize)> = vec![(
            Bar {
                node: Some(0),
                name: self.nodes[0].name,
                start: [0; 2],
                total: self.nodes[0].total,
                own: self.nodes[0].own,
            },
            0,
        )];
        while let Some((bar, depth)) = stack.pop() {
            if rows.len() <= depth {
                rows.push(Vec::new());
            }
            if let Some(node) = bar.node {
                let node = &self.nodes[node as usize];
                let mut kept: Vec<u32> = Vec::new();
                let mut cut = [0u64; 2];
                for &c in &node.children {
                    let child = &self.nodes[c as usize];
                    if child.total[0].saturating_add(child.total[1]) >= threshold {
                        kept.push(c);
                    } else {
                        cut[0] = cut[0].saturating_add(child.total[0]);
                        cut[1] = cut[1].saturating_add(child.total[1]);
                    }
                }
                kept.sort_by(|a, b| {
                    self.names[self.nodes[*a as usize].name as usize]
                        .cmp(&self.names[self.nodes[*b as usize].name as usize])
                });
                let mut next = bar.start;
                let mut place = |total: [u64; 2]| {
                    let start = next;
                    next = [
                        next[0].saturating_add(total[0]),
                        next[1].saturating_add(total[1]),
                    ];
                    start
                };
                let mut children: Vec<Bar> = kept
                    .into_iter()
                    .map(|c| {
                        let n = &self.nodes[c as usize];
                        Bar {
                            node: Some(c),
                            name: n.name,
                            start: place(n.total),
                            total: n.total,
                            own: n.own,
                        }
                    })
                    .collect();
                if cut != [0, 0] {
                    children.push(Bar {
                        node: None,
                        name: u32::MAX,
                        start: place(cut),
                        total: cut,
                        own: cut,
                    });
                }
                for child in children.into_iter().rev() {
                    stack.push((child, depth + 1));
                }
            }
            rows[depth].push(bar);
        }
        rows
    }

    /// The names table, with `other` added if a bar needs it.
    fn names_for(&self, rows: &[Vec<Bar>]) -> (Vec<String>, u32) {
        let mut names = self.names.clone();
        let other = match self.name_index.get(OTHER) {
            Some(&i) => i,
            None => {
                names.push(OTHER.to_owned());
                (names.len() - 1) as u32
            }
        };
        if !rows.iter().flatten().any(|b| b.node.is_none()) && !self.name_index.contains_key(OTHER)
        {
            names.pop();
        }
        (names, other)
    }

    /// One side as a flame graph.
    pub fn flame_graph(&self, max_nodes: Option<i64>) -> q::FlameGraph {
        let rows = self.rows(max_nodes);
        let (names, other) = self.names_for(&rows);
        let mut max_self = 0u64;
        let levels = rows
            .iter()
            .map(|row| {
                let mut values = Vec::with_capacity(row.len() * 4);
                let mut offsets = Offsets::default();
                for bar in row {
                    max_self = max_self.max(bar.own[0]);
                    values.extend([
                        offsets.gap(bar, 0),
                        clamp(bar.total[0]),
                        clamp(bar.own[0]),
                        i64::from(bar.name_or(other)),
                    ]);
                }
                q::Level { values }
            })
            .collect();
        q::FlameGraph {
            names,
            levels,
            total: clamp(self.total(0)),
            max_self: clamp(max_self),
        }
    }

    /// Both sides on one set of bars.
    pub fn diff(&self, max_nodes: Option<i64>) -> q::FlameGraphDiff {
        let rows = self.rows(max_nodes);
        let (names, other) = self.names_for(&rows);
        let mut max_self = 0u64;
        let levels = rows
            .iter()
            .map(|row| {
                let mut values = Vec::with_capacity(row.len() * 7);
                let mut offsets = Offsets::default();
                for bar in row {
                    max_self = max_self.max(bar.own[0]).max(bar.own[1]);
                    let left = offsets.gap(bar, 0);
                    let right = offsets.gap(bar, 1);
                    values.extend([
                        left,
                        clamp(bar.total[0]),
                        clamp(bar.own[0]),
                        right,
                        clamp(bar.total[1]),
                        clamp(bar.own[1]),
                        i64::from(bar.name_or(other)),
                    ]);
                }
                q::Level { values }
            })
            .collect();
        q::FlameGraphDiff {
            names,
            levels,
            total: clamp(self.total(0).saturating_add(self.total(1))),
            max_self: clamp(max_self),
            left_ticks: clamp(self.total(0)),
            right_ticks: clamp(self.total(1)),
        }
    }
}

/// One bar: a node of the tree, or (`node` None) the cut children of one.
#[derive(Clone, Copy, Debug)]
struct Bar {
    node: Option<u32>,
    name: u32,
    /// Where the bar begins, per side: its parent's start plus the widths
    /// of its earlier siblings.
    start: [u64; 2],
    total: [u64; 2],
    own: [u64; 2],
}

impl Bar {
    fn name_or(&self, other: u32) -> u32 {
        if self.node.is_some() {
            self.name
        } else {
            other
        }
    }
}

/// The gaps between the bars of one row, per side.
#[derive(Default)]
struct Offsets {
    /// End of the previous bar of the row, per side.
    end: [u64; 2],
}

impl Offsets {
    fn gap(&mut self, bar: &Bar, side: usize) -> i64 {
        let gap = bar.start[side].saturating_sub(self.end[side]);
        self.end[side] = bar.start[side].saturating_add(bar.total[side]);
        clamp(gap)
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(names: &str) -> Vec<String> {
        names.split(';').map(str::to_owned).collect()
    }

    /// Rebuilds `(depth, name, start, total, self)` from the levels, the
    /// way Grafana's data source reads them.
    fn bars(graph: &q::FlameGraph) -> Vec<(usize, String, i64, i64, i64)> {
        let mut out = Vec::new();
        for (depth, level) in graph.levels.iter().enumerate() {
            let mut end = 0;
            for v in level.values.chunks(4) {
                let start = end + v[0];
                out.push((depth, graph.names[v[3] as usize].clone(), start, v[1], v[2]));
                end = start + v[1];
            }
        }
        out
    }

    #[test]
    fn levels_place_children_under_their_parents() {
        let mut tree = NameTree::default();
        tree.add(&stack("main;a;x"), 30, 0);
        tree.add(&stack("main;a"), 10, 0);
        tree.add(&stack("main;b"), 20, 0);
        tree.add(&stack("other_main"), 5, 0);
        let graph = tree.flame_graph(None);
        assert_eq!(graph.total, 65);
        assert_eq!(graph.max_self, 30);
        assert_eq!(
            bars(&graph),
            vec![
                (0, "total".into(), 0, 65, 0),
                (1, "main".into(), 0, 60, 0),
                (1, "other_main".into(), 60, 5, 5),
                (2, "a".into(), 0, 40, 10),
                (2, "b".into(), 40, 20, 20),
                (3, "x".into(), 0, 30, 30),
            ]
        );
    }

    #[test]
    fn a_gap_is_left_for_a_parents_self_time() {
        let mut tree = NameTree::default();
        tree.add(&stack("p"), 7, 0);
        tree.add(&stack("p;c"), 3, 0);
        tree.add(&stack("q;d"), 4, 0);
        let graph = tree.flame_graph(None);
        // Row 2: c at 0..3, then d under q, which starts at 10.
        assert_eq!(graph.levels[2].values, vec![0, 3, 3, 2, 7, 4, 4, 4]);
        assert_eq!(
            bars(&graph)[3..],
            [(2, "c".into(), 0, 3, 3), (2, "d".into(), 10, 4, 4)]
        );
    }

    #[test]
    fn max_nodes_folds_the_lightest_into_other_and_keeps_totals() {
        let mut tree = NameTree::default();
        for (i, weight) in [100u64, 50, 3, 2, 1].iter().enumerate() {
            tree.add(&stack(&format!("main;f{i}")), *weight, 0);
        }
        let graph = tree.flame_graph(Some(3));
        let bars = bars(&graph);
        assert_eq!(graph.total, 156);
        let row: Vec<_> = bars.iter().filter(|b| b.0 == 2).collect();
        assert_eq!(row.len(), 3, "{bars:?}");
        assert_eq!(row[2].1, OTHER);
        assert_eq!(row[2].3, 6);
        assert_eq!(row.iter().map(|b| b.3).sum::<i64>(), 156);
    }

    #[test]
    fn a_diff_keeps_both_sides_on_one_set_of_bars() {
        let mut tree = NameTree::default();
        tree.add(&stack("main;a"), 10, 0);
        tree.add(&stack("main;b"), 5, 1);
        tree.add(&stack("main;a"), 1, 1);
        let diff = tree.diff(None);
        assert_eq!((diff.left_ticks, diff.right_ticks, diff.total), (10, 6, 16));
        let names: Vec<&str> = diff.names.iter().map(String::as_str).collect();
        let row = &diff.levels[2].values;
        assert_eq!(row.len(), 14);
        assert_eq!(names[row[6] as usize], "a");
        assert_eq!(&row[..6], &[0, 10, 10, 0, 1, 1]);
        assert_eq!(names[row[13] as usize], "b");
        // b starts after a on both sides.
        assert_eq!(&row[7..13], &[0, 0, 0, 0, 5, 5]);
    }
}
