//! `format=tree`: a profile as its call tree in flat little-endian arrays,
//! the answer the page draws from (layout in `web/API.md`).
//!
//! The JSON format spells every stack's frames out (9.4 MB and 200-300 ms
//! of serialization for a 130k-node tree); this one names each function once
//! and gives each tree node a parent, a name index and two counts, written
//! straight into one buffer. It is built from storage's prefix tree of
//! stacks ([`StackTree`]), each stored node's names looked up once, and
//! allocates per distinct function name, not per node or frame.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use augur_profile::{Location, ROOT, RawFrame, StackTree};
use serde::Serialize;

/// The answer's media type.
pub(crate) const CONTENT_TYPE: &str = "application/vnd.augur.tree";
/// First bytes of a tree answer.
pub(crate) const MAGIC: &[u8; 4] = b"AUGT";
/// Layout version, after the magic.
pub(crate) const VERSION: u32 = 1;
/// The root's name index: it has no name.
pub(crate) const NO_NAME: u32 = u32::MAX;

/// A call tree with its nodes in breadth-first order: node 0 is the root,
/// every node's children are consecutive, heaviest first (ties in function
/// order), and come after it. Functions are numbered in `top_functions`
/// order (self descending, then total descending, then name).
#[derive(Debug)]
pub(crate) struct CallTree<'a> {
    pub names: Vec<Cow<'a, str>>,
    /// Per name, what its frames are.
    pub origins: Vec<NameOrigin<'a>>,
    pub parent: Vec<i32>,
    pub name: Vec<u32>,
    pub self_count: Vec<u64>,
    pub total: Vec<u64>,
    pub function_self: Vec<u64>,
    pub function_total: Vec<u64>,
}

/// The `FxHash` multiply-rotate hasher with a finalizer: the maps below hash
/// small integers and short names hundreds of thousands of times; SipHash's
/// DoS resistance buys nothing for names that come from our own store.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
        for &byte in chunks.remainder() {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        // The multiply leaves the low bits, which pick the bucket, depending
        // only on the inputs' low bits (names sharing a prefix collide):
        // MurmurHash3's finalizer mixes every bit into every bit.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// What the API tells about a function name besides its counts: the
/// language of its code (`RawFrame::language`) and, for a runtime frame
/// (Python, Java), its source file and line. A name met in several places
/// keeps the first it was met with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NameOrigin<'a> {
    pub language: &'static str,
    /// `(file, line)`, either unknown (empty, 0) but not both.
    pub source: Option<(&'a str, u32)>,
}

impl<'a> NameOrigin<'a> {
    pub(crate) fn of(location: &'a Location) -> Self {
        let source = match &location.frame {
            RawFrame::Runtime { file, line, .. } if !file.is_empty() || *line != 0 => {
                Some((file.as_str(), *line))
            }
            RawFrame::Runtime { .. }
            | RawFrame::User { .. }
            | RawFrame::Kernel { .. }
            | RawFrame::Named { .. }
            | RawFrame::Unknown { .. } => None,
        };
        Self {
            language: location.frame.language(),
            source,
        }
    }
}

/// A runtime function's place in its source, as the API writes it.
#[derive(Serialize)]
struct SourceJson<'a> {
    /// Index into `names`.
    name: usize,
    file: &'a str,
    line: u32,
}

/// A location's names, root first, as `Location::names` spells them:
/// borrowed when stored as is, an unsymbolized user frame formatted into
/// `scratch` (allocated only when the name is new).
fn location_names<'a>(
    location: &'a Location,
    scratch: &mut String,
    mut each: impl FnMut(Name<'a, '_>),
) {
    if !location.symbols.is_empty() {
        // Symbols are innermost first; callers come first in a stack.
        for symbol in location.symbols.iter().rev() {
            each(Name::Borrowed(symbol.function.as_str()));
        }
        return;
    }
    match &location.frame {
        RawFrame::Kernel {
            function,
            module: None,
        }
        | RawFrame::Named { function, .. }
        | RawFrame::Runtime { function, .. } => each(Name::Borrowed(function.as_str())),
        RawFrame::User {
            build_id,
            file_offset,
        } => {
            use std::fmt::Write as _;
            scratch.clear();
            scratch.push('[');
            match location.path.as_deref().and_then(|p| p.rsplit('/').next()) {
                Some(object) => scratch.push_str(object),
                None => scratch.push_str(&build_id.to_hex()),
            }
            let _ = write!(scratch, "+{file_offset:#x}]");
            each(Name::Scratch(scratch));
        }
        RawFrame::Kernel {
            module: Some(_), ..
        }
        | RawFrame::Unknown { .. } => {
            for name in location.names().into_iter().rev() {
                each(Name::Scratch(&name));
            }
        }
    }
}

/// A frame name: borrowed from the profile, or in a buffer to copy if new.
enum Name<'a, 's> {
    Borrowed(&'a str),
    Scratch(&'s str),
}

impl<'a> Name<'a, '_> {
    fn as_str(&self) -> &str {
        match self {
            Name::Borrowed(s) | Name::Scratch(s) => s,
        }
    }

    fn to_cow(&self) -> Cow<'a, str> {
        match *self {
            Name::Borrowed(s) => Cow::Borrowed(s),
            Name::Scratch(s) => Cow::Owned(s.to_owned()),
        }
    }
}

/// Pass 1 of a call tree: nodes in creation order, a parent before its
/// children, each a (parent, name) pair met for the first time.
struct Builder<'a> {
    interned: FxMap<Cow<'a, str>, u32>,
    names: Vec<Cow<'a, str>>,
    origins: Vec<NameOrigin<'a>>,
    children: FxMap<u64, u32>,
    parent: Vec<u32>,
    name: Vec<u32>,
    self_count: Vec<u64>,
}

impl<'a> Builder<'a> {
    fn with_capacity(nodes: usize) -> Self {
        let mut builder = Self {
            interned: FxMap::default(),
            names: Vec::new(),
            origins: Vec::new(),
            children: FxMap::default(),
            parent: Vec::with_capacity(nodes + 1),
            name: Vec::with_capacity(nodes + 1),
            self_count: Vec::with_capacity(nodes + 1),
        };
        builder.interned.reserve(nodes / 2);
        builder.children.reserve(nodes);
        builder.parent.push(0);
        builder.name.push(NO_NAME);
        builder.self_count.push(0);
        builder
    }

    /// The index of a function name, met in a location of `origin`.
    fn intern(&mut self, frame: Name<'a, '_>, origin: NameOrigin<'a>) -> u32 {
        match self.interned.get(frame.as_str()) {
            Some(&index) => index,
            None => {
                let index = self.names.len() as u32;
                let frame = frame.to_cow();
                self.names.push(frame.clone());
                self.origins.push(origin);
                self.interned.insert(frame, index);
                index
            }
        }
    }

    /// The child of `node` with name index `index`, created if new.
    fn child_named(&mut self, node: u32, index: u32) -> u32 {
        let key = (u64::from(node) << 32) | u64::from(index);
        *self.children.entry(key).or_insert_with(|| {
            self.parent.push(node);
            self.name.push(index);
            self.self_count.push(0);
            (self.parent.len() - 1) as u32
        })
    }
}

/// `format=tree`'s answer for `tree`, `header`'s fields in its JSON header:
/// the call tree built and encoded as `GET /api/profile` does, for the
/// benchmarks.
pub fn encode_tree<H: Serialize>(
    tree: &StackTree,
    header: &H,
) -> Result<Vec<u8>, serde_json::Error> {
    CallTree::from_stack_tree(tree).encode(header)
}

impl<'a> CallTree<'a> {
    /// The call tree of storage's prefix tree of stacks: each location's
    /// names are interned once, each stored node costs one child lookup per
    /// name, and no stack is walked twice.
    pub fn from_stack_tree(tree: &'a StackTree) -> Self {
        let mut builder = Builder::with_capacity(tree.nodes.len());
        let mut scratch = String::new();
        // Name indexes of every location, root first, flat.
        let mut name_start: Vec<u32> = Vec::with_capacity(tree.locations.len() + 1);
        let mut name_list: Vec<u32> = Vec::with_capacity(tree.locations.len());
        for location in &tree.locations {
            name_start.push(name_list.len() as u32);
            let origin = NameOrigin::of(location);
            location_names(location, &mut scratch, |frame| {
                name_list.push(builder.intern(frame, origin));
            });
        }
        name_start.push(name_list.len() as u32);
        // Call-tree node of each stored node; parents come first.
        let mut at: Vec<u32> = Vec::with_capacity(tree.nodes.len());
        for stored in &tree.nodes {
            let parent = match stored.parent {
                ROOT => 0,
                p => at.get(p as usize).copied().unwrap_or(0),
            };
            let l = stored.location as usize;
            let names = match (name_start.get(l), name_start.get(l + 1)) {
                (Some(&from), Some(&to)) => &name_list[from as usize..to as usize],
                _ => &[],
            };
            let node = names
                .iter()
                .fold(parent, |node, &index| builder.child_named(node, index));
            builder.self_count[node as usize] += stored.count;
            at.push(node);
        }
        builder.self_count[0] += tree.root_count;
        Self::finish(builder)
    }

    /// Passes 2 and on: totals, function totals, ranks and the
    /// breadth-first order.
    fn finish(builder: Builder<'a>) -> Self {
        let Builder {
            names,
            origins,
            parent,
            name,
            self_count,
            ..
        } = builder;
        let n = parent.len();
        let mut total = self_count.clone();
        for i in (1..n).rev() {
            total[parent[i] as usize] += total[i];
        }

        // Children lists.
        let mut kid_start = vec![0u32; n + 1];
        for &p in &parent[1..] {
            kid_start[p as usize + 1] += 1;
        }
        for i in 0..n {
            kid_start[i + 1] += kid_start[i];
        }
        let mut fill = kid_start.clone();
        let mut kids = vec![0u32; n.saturating_sub(1)];
        for (i, &p) in parent.iter().enumerate().skip(1) {
            kids[fill[p as usize] as usize] = i as u32;
            fill[p as usize] += 1;
        }
        drop(fill);

        // Per function: self, and total with recursion counted once (a
        // node adds its total only when no ancestor has its name).
        let mut function_self = vec![0u64; names.len()];
        let mut function_total = vec![0u64; names.len()];
        let mut on_path = vec![0u32; names.len()];
        const EXIT: u32 = 1 << 31;
        let mut stack: Vec<u32> = vec![0];
        while let Some(top) = stack.pop() {
            if top & EXIT != 0 {
                on_path[name[(top & !EXIT) as usize] as usize] -= 1;
                continue;
            }
            let node = top as usize;
            let f = name[node];
            if f != NO_NAME {
                let f = f as usize;
                function_self[f] += self_count[node];
                if on_path[f] == 0 {
                    function_total[f] += total[node];
                }
                on_path[f] += 1;
                stack.push(top | EXIT);
            }
            stack.extend_from_slice(&kids[kid_start[node] as usize..kid_start[node + 1] as usize]);
        }

        // Functions in top_functions order.
        let mut by_rank: Vec<u32> = (0..names.len() as u32).collect();
        by_rank.sort_unstable_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            function_self[b]
                .cmp(&function_self[a])
                .then(function_total[b].cmp(&function_total[a]))
                .then_with(|| names[a].cmp(&names[b]))
        });
        let mut rank = vec![0u32; names.len()];
        for (r, &f) in by_rank.iter().enumerate() {
            rank[f as usize] = r as u32;
        }
        let mut ranked_names = Vec::with_capacity(names.len());
        let mut ranked_origins = Vec::with_capacity(names.len());
        let mut ranked_self = Vec::with_capacity(names.len());
        let mut ranked_total = Vec::with_capacity(names.len());
        let mut names: Vec<Option<Cow<'a, str>>> = names.into_iter().map(Some).collect();
        for &f in &by_rank {
            let f = f as usize;
            ranked_names.push(names[f].take().unwrap_or_default());
            ranked_origins.push(origins[f]);
            ranked_self.push(function_self[f]);
            ranked_total.push(function_total[f]);
        }

        // Heaviest child first; ties in function order (integers only).
        for i in 0..n {
            let range = kid_start[i] as usize..kid_start[i + 1] as usize;
            if range.len() > 1 {
                kids[range].sort_unstable_by_key(|&c| {
                    let c = c as usize;
                    (std::cmp::Reverse(total[c]), rank[name[c] as usize])
                });
            }
        }

        // Nodes in breadth-first order.
        let mut order: Vec<u32> = Vec::with_capacity(n);
        order.push(0);
        let mut new_id = vec![0i32; n];
        let mut i = 0;
        while i < order.len() {
            let node = order[i] as usize;
            new_id[node] = i as i32;
            order.extend_from_slice(&kids[kid_start[node] as usize..kid_start[node + 1] as usize]);
            i += 1;
        }
        let mut tree = CallTree {
            names: ranked_names,
            origins: ranked_origins,
            parent: Vec::with_capacity(n),
            name: Vec::with_capacity(n),
            self_count: Vec::with_capacity(n),
            total: Vec::with_capacity(n),
            function_self: ranked_self,
            function_total: ranked_total,
        };
        for &old in &order {
            let old = old as usize;
            tree.parent.push(if old == 0 {
                -1
            } else {
                new_id[parent[old] as usize]
            });
            let f = name[old];
            tree.name.push(if f == NO_NAME {
                NO_NAME
            } else {
                rank[f as usize]
            });
            tree.self_count.push(self_count[old]);
            tree.total.push(total[old]);
        }
        tree
    }

    /// The binary answer: magic, version, a JSON header (`header` plus the
    /// node count and the names), then the arrays, each aligned to 8 bytes.
    pub fn encode<H: Serialize>(&self, header: &H) -> Result<Vec<u8>, serde_json::Error> {
        #[derive(Serialize)]
        struct Header<'h, H> {
            #[serde(flatten)]
            header: &'h H,
            nodes: usize,
            names: &'h [Cow<'h, str>],
            /// Each language once, in order of first use by `names`.
            languages: Vec<&'static str>,
            /// Per name, an index into `languages`.
            name_languages: Vec<u32>,
            /// Source places of the names that have one (runtime frames).
            sources: Vec<SourceJson<'h>>,
        }
        let mut languages: Vec<&'static str> = Vec::new();
        let name_languages = self
            .origins
            .iter()
            .map(
                |origin| match languages.iter().position(|&l| l == origin.language) {
                    Some(i) => i as u32,
                    None => {
                        languages.push(origin.language);
                        languages.len() as u32 - 1
                    }
                },
            )
            .collect();
        let sources = self
            .origins
            .iter()
            .enumerate()
            .filter_map(|(name, origin)| {
                origin
                    .source
                    .map(|(file, line)| SourceJson { name, file, line })
            })
            .collect();
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        serde_json::to_writer(
            &mut out,
            &Header {
                header,
                nodes: self.parent.len(),
                names: &self.names,
                languages,
                name_languages,
                sources,
            },
        )?;
        let header_len = (out.len() - 12) as u32;
        out[8..12].copy_from_slice(&header_len.to_le_bytes());
        out.resize(out.len().next_multiple_of(8), 0);
        let (n, m) = (self.parent.len(), self.names.len());
        out.reserve(n * 24 + m * 16);
        for array in [
            &self.self_count,
            &self.total,
            &self.function_self,
            &self.function_total,
        ] {
            // f64: exact to 2^53 samples, and what JavaScript reads directly.
            for &v in array.iter() {
                out.extend_from_slice(&(v as f64).to_le_bytes());
            }
        }
        for &p in &self.parent {
            out.extend_from_slice(&p.to_le_bytes());
        }
        for &f in &self.name {
            out.extend_from_slice(&f.to_le_bytes());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use augur_profile::{ProfileType, Sample, Symbol};

    use super::*;

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

    fn profile(samples: Vec<(Vec<Location>, u64)>) -> augur_profile::Profile {
        augur_profile::Profile {
            service: "s".into(),
            profile_type: ProfileType::cpu(),
            period: 1,
            start_unix_nanos: 0,
            end_unix_nanos: 1,
            samples: samples
                .into_iter()
                .map(|(locations, count)| Sample { locations, count })
                .collect(),
        }
    }

    /// Root-first name paths with their self counts, from the tree.
    fn paths(tree: &CallTree<'_>) -> Vec<(Vec<String>, u64)> {
        let mut out = Vec::new();
        for node in 0..tree.parent.len() {
            if tree.self_count[node] == 0 {
                continue;
            }
            let mut path = Vec::new();
            let mut n = node as i32;
            while n > 0 {
                path.push(tree.names[tree.name[n as usize] as usize].to_string());
                n = tree.parent[n as usize];
            }
            path.reverse();
            out.push((path, tree.self_count[node]));
        }
        out.sort();
        out
    }

    #[test]
    fn matches_folded_stacks_and_top_functions() {
        let inlined = Location {
            frame: RawFrame::User {
                build_id: augur_profile::FileId::parse_hex("beef").unwrap(),
                file_offset: 0x10,
            },
            path: Some("/bin/app".into()),
            symbols: vec![
                Symbol {
                    function: "inner".into(),
                    file: None,
                    line: None,
                },
                Symbol {
                    function: "outer".into(),
                    file: None,
                    line: None,
                },
            ],
        };
        let raw = Location {
            frame: RawFrame::User {
                build_id: augur_profile::FileId::parse_hex("beef").unwrap(),
                file_offset: 0x20,
            },
            path: Some("/bin/app".into()),
            symbols: vec![],
        };
        let module = Location {
            frame: RawFrame::Kernel {
                function: "xfs_read".into(),
                module: Some("xfs".into()),
            },
            path: None,
            symbols: vec![],
        };
        let no_path = Location {
            path: None,
            ..raw.clone()
        };
        let unknown = Location {
            frame: RawFrame::Unknown {
                reason: "anonymous memory".into(),
            },
            path: None,
            symbols: vec![],
        };
        // Leaf first, as stored; `rec` recurses.
        let p = profile(vec![
            (
                vec![kernel("hot"), kernel("rec"), kernel("rec"), kernel("main")],
                5,
            ),
            (vec![kernel("rec"), kernel("main")], 2),
            (vec![inlined.clone(), kernel("main")], 3),
            (vec![raw, module, kernel("main")], 1),
            (vec![no_path, unknown, kernel("main")], 6),
            (vec![kernel("main")], 4),
            (vec![], 1),
        ]);
        let stored = StackTree::from_profile(&p);
        let tree = CallTree::from_stack_tree(&stored);
        let mut folded = p.folded_stacks();
        folded.sort();
        assert_eq!(paths(&tree), folded);
        assert_eq!(tree.total[0], p.total());
        assert_eq!(tree.parent[0], -1);
        assert_eq!(tree.name[0], NO_NAME);
        let top: Vec<(String, u64, u64)> = tree
            .names
            .iter()
            .zip(&tree.function_self)
            .zip(&tree.function_total)
            .map(|((n, &s), &t)| (n.to_string(), s, t))
            .collect();
        let expected: Vec<(String, u64, u64)> = p
            .top_functions()
            .into_iter()
            .map(|f| (f.name, f.self_count, f.total_count))
            .collect();
        assert_eq!(top, expected);
        // Breadth-first: parents first, siblings consecutive and heaviest first.
        for i in 1..tree.parent.len() {
            assert!((tree.parent[i] as usize) < i);
            assert!(tree.parent[i - 1] <= tree.parent[i]);
            if tree.parent[i - 1] == tree.parent[i] {
                assert!(tree.total[i - 1] >= tree.total[i]);
            }
            let children: u64 = (0..tree.parent.len())
                .filter(|&c| tree.parent[c] == i as i32)
                .map(|c| tree.total[c])
                .sum();
            assert_eq!(tree.total[i], tree.self_count[i] + children);
        }
    }

    #[test]
    fn encoding_is_aligned_and_complete() {
        let p = profile(vec![(vec![kernel("b"), kernel("a")], 3)]);
        let stored = StackTree::from_profile(&p);
        let tree = CallTree::from_stack_tree(&stored);
        let bytes = tree.encode(&serde_json::json!({"service": "s"})).unwrap();
        assert_eq!(&bytes[..4], MAGIC);
        assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), VERSION);
        let header_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let header: serde_json::Value =
            serde_json::from_slice(&bytes[12..12 + header_len]).unwrap();
        assert_eq!(header["service"], "s");
        assert_eq!(header["nodes"], 3);
        assert_eq!(header["names"], serde_json::json!(["b", "a"]));
        let start = (12 + header_len).next_multiple_of(8);
        assert_eq!(bytes.len(), start + 3 * 8 * 2 + 2 * 8 * 2 + 3 * 4 * 2);
        let f64_at = |i: usize| {
            f64::from_le_bytes(bytes[start + 8 * i..start + 8 * i + 8].try_into().unwrap())
        };
        // self: root 0, a 0, b 3; total: 3, 3, 3.
        assert_eq!([f64_at(0), f64_at(1), f64_at(2)], [0.0, 0.0, 3.0]);
        assert_eq!([f64_at(3), f64_at(4), f64_at(5)], [3.0, 3.0, 3.0]);
    }
}
