//! Which plan nodes a fragment may hold: only those Shoal's split sends.
//!
//! A fragment is a datafusion-proto physical plan, and datafusion-proto can
//! describe any built-in operator: file scans (`CsvScan` of `/etc/passwd`),
//! file sinks, `GenerateSeries`, joins. A leaf (or a child aggregator)
//! checks the encoded plan *before* decoding it, and refuses every node
//! outside this list by name:
//!
//! | node                     | as the split makes it                          |
//! |--------------------------|------------------------------------------------|
//! | `Extension`              | Shoal's table scan placeholder, no inputs      |
//! | `Aggregate`              | mode `Partial` only                            |
//! | `Filter`, `Projection`   |                                                |
//! | `Sort`, `LocalLimit`     | top-k and limits                               |
//! | `Repartition`            | round robin, at most [`MAX_PARTITIONS`] ways   |
//! | `CoalesceBatches`, `Cooperative` | what DataFusion's optimizer may add    |
//!
//! Sorts' and aggregates' dynamic filters (the top-k or min/max threshold
//! DataFusion sends along) are taken out before decoding
//! ([`admit_fragment`]): the leaf's operators make their own, and
//! one decoded as sent is evaluated as the sender wrote it (one that is not
//! boolean panicked DataFusion's top-k; found by fuzzing).
//!
//! Expressions inside those nodes name functions, which the receiving side
//! resolves in its own registry (DataFusion's built-ins and Shoal's own), so
//! a fragment cannot bring code of its own. The extension codec decodes
//! only [`shoal_proto::TableScanNode`]s.

use datafusion_proto::protobuf::partitioning::PartitionMethod;
use datafusion_proto::protobuf::physical_plan_node::PhysicalPlanType;
use datafusion_proto::protobuf::{AggregateExecNode, AggregateMode, PhysicalPlanNode};
use prost::Message;

/// Most partitions a fragment's round-robin repartition may ask for.
pub const MAX_PARTITIONS: u64 = 256;
/// Deepest chain of plan nodes a fragment may hold.
/// (prost refuses messages nested past 100 levels, two per plan node.)
pub const MAX_PLAN_DEPTH: usize = 32;

/// Why a fragment was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("plan fragment refused: {0}")]
pub struct FragmentRefused(pub String);

/// Checks an encoded fragment against the list in the module docs.
pub fn check_fragment(plan: &[u8]) -> Result<(), FragmentRefused> {
    admit_fragment(plan).map(|_| ())
}

/// `plan` checked as [`check_fragment`] does and, when it passes, with
/// every sort's and aggregate's dynamic filter taken out (see the module
/// docs): what a leaf or child aggregator decodes
/// ([`crate::fragment_decode::decode_fragment`]). One walk does both.
pub fn admit_fragment(plan: &[u8]) -> Result<PhysicalPlanNode, FragmentRefused> {
    let mut node = PhysicalPlanNode::decode(plan)
        .map_err(|e| FragmentRefused(format!("not a physical plan: {e}")))?;
    check_node(&mut node, 0)?;
    Ok(node)
}

/// The lengths DataFusion assumes but does not check when it runs an
/// aggregate: a grouping set that marks a column null needs a null
/// expression for it, and every set has one flag per group expression
/// (found by fuzzing: it indexed out of bounds). Plans DataFusion makes for
/// a plain GROUP BY have one set of all-false flags and no null
/// expressions.
fn check_grouping(aggregate: &AggregateExecNode) -> Result<(), FragmentRefused> {
    let groups = aggregate.group_expr.len();
    let uses_nulls = aggregate.groups.iter().any(|&is_null| is_null);
    let consistent = match groups {
        0 => aggregate.groups.is_empty(),
        _ => aggregate.groups.len().is_multiple_of(groups),
    } && (!uses_nulls || aggregate.null_expr.len() == groups);
    match consistent {
        true => Ok(()),
        false => Err(FragmentRefused(
            "an aggregate whose grouping sets do not match its expressions".to_string(),
        )),
    }
}

/// Checks `node` and its inputs, taking sorts' and aggregates' dynamic
/// filters out on the way.
fn check_node(node: &mut PhysicalPlanNode, depth: usize) -> Result<(), FragmentRefused> {
    if depth > MAX_PLAN_DEPTH {
        return Err(FragmentRefused(format!(
            "nodes nested more than {MAX_PLAN_DEPTH} deep"
        )));
    }
    let Some(plan) = &mut node.physical_plan_type else {
        return Err(FragmentRefused("a node without a type".to_string()));
    };
    let input = match plan {
        PhysicalPlanType::Extension(extension) => {
            if !extension.inputs.is_empty() {
                return Err(FragmentRefused(
                    "a table scan with inputs of its own".to_string(),
                ));
            }
            return Ok(());
        }
        PhysicalPlanType::Aggregate(aggregate) => {
            if aggregate.mode != AggregateMode::Partial as i32 {
                let mode = AggregateMode::try_from(aggregate.mode)
                    .map(|m| m.as_str_name().to_string())
                    .unwrap_or_else(|_| aggregate.mode.to_string());
                return Err(FragmentRefused(format!(
                    "an aggregate in mode {mode}; leaves run partial aggregates only"
                )));
            }
            check_grouping(aggregate)?;
            aggregate.dynamic_filter = None;
            aggregate.input.as_deref_mut()
        }
        PhysicalPlanType::Repartition(repartition) => {
            let method = repartition
                .partitioning
                .as_ref()
                .and_then(|p| p.partition_method.as_ref());
            match method {
                Some(PartitionMethod::RoundRobin(count)) if *count <= MAX_PARTITIONS => {}
                Some(PartitionMethod::RoundRobin(count)) => {
                    return Err(FragmentRefused(format!(
                        "a repartition into {count} partitions (at most {MAX_PARTITIONS})"
                    )));
                }
                _ => {
                    return Err(FragmentRefused(
                        "a repartition other than round robin".to_string(),
                    ));
                }
            }
            repartition.input.as_deref_mut()
        }
        PhysicalPlanType::Filter(filter) => filter.input.as_deref_mut(),
        PhysicalPlanType::Projection(projection) => projection.input.as_deref_mut(),
        // A top-k of no rows trips an assertion in DataFusion's TopK (found
        // by fuzzing); the split never sends one.
        PhysicalPlanType::Sort(sort) if sort.fetch == 0 => {
            return Err(FragmentRefused("a top-k of zero rows".to_string()));
        }
        PhysicalPlanType::Sort(sort) => {
            sort.dynamic_filter = None;
            sort.input.as_deref_mut()
        }
        PhysicalPlanType::LocalLimit(limit) => limit.input.as_deref_mut(),
        PhysicalPlanType::CoalesceBatches(coalesce) => coalesce.input.as_deref_mut(),
        PhysicalPlanType::Cooperative(cooperative) => cooperative.input.as_deref_mut(),
        other => return Err(FragmentRefused(format!("a {} node", node_name(&*other)))),
    };
    match input {
        Some(input) => check_node(input, depth + 1),
        None => Err(FragmentRefused("a node without its input".to_string())),
    }
}

/// The node's name as datafusion-proto spells it (`CsvScan`, `HashJoin`),
/// from its variant alone: formatting it would walk its whole subtree.
fn node_name(plan: &PhysicalPlanType) -> &'static str {
    match plan {
        PhysicalPlanType::ParquetScan(_) => "ParquetScan",
        PhysicalPlanType::CsvScan(_) => "CsvScan",
        PhysicalPlanType::Empty(_) => "Empty",
        PhysicalPlanType::Projection(_) => "Projection",
        PhysicalPlanType::GlobalLimit(_) => "GlobalLimit",
        PhysicalPlanType::LocalLimit(_) => "LocalLimit",
        PhysicalPlanType::Aggregate(_) => "Aggregate",
        PhysicalPlanType::HashJoin(_) => "HashJoin",
        PhysicalPlanType::Sort(_) => "Sort",
        PhysicalPlanType::CoalesceBatches(_) => "CoalesceBatches",
        PhysicalPlanType::Filter(_) => "Filter",
        PhysicalPlanType::Merge(_) => "Merge",
        PhysicalPlanType::Repartition(_) => "Repartition",
        PhysicalPlanType::Window(_) => "Window",
        PhysicalPlanType::CrossJoin(_) => "CrossJoin",
        PhysicalPlanType::AvroScan(_) => "AvroScan",
        PhysicalPlanType::Extension(_) => "Extension",
        PhysicalPlanType::Union(_) => "Union",
        PhysicalPlanType::Explain(_) => "Explain",
        PhysicalPlanType::SortPreservingMerge(_) => "SortPreservingMerge",
        PhysicalPlanType::NestedLoopJoin(_) => "NestedLoopJoin",
        PhysicalPlanType::Analyze(_) => "Analyze",
        PhysicalPlanType::JsonSink(_) => "JsonSink",
        PhysicalPlanType::SymmetricHashJoin(_) => "SymmetricHashJoin",
        PhysicalPlanType::Interleave(_) => "Interleave",
        PhysicalPlanType::PlaceholderRow(_) => "PlaceholderRow",
        PhysicalPlanType::CsvSink(_) => "CsvSink",
        PhysicalPlanType::ParquetSink(_) => "ParquetSink",
        PhysicalPlanType::Unnest(_) => "Unnest",
        PhysicalPlanType::JsonScan(_) => "JsonScan",
        PhysicalPlanType::Cooperative(_) => "Cooperative",
        PhysicalPlanType::GenerateSeries(_) => "GenerateSeries",
        PhysicalPlanType::SortMergeJoin(_) => "SortMergeJoin",
        PhysicalPlanType::MemoryScan(_) => "MemoryScan",
        PhysicalPlanType::AsyncFunc(_) => "AsyncFunc",
        PhysicalPlanType::Buffer(_) => "Buffer",
        PhysicalPlanType::ArrowScan(_) => "ArrowScan",
        PhysicalPlanType::ScalarSubquery(_) => "ScalarSubquery",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_proto::protobuf::{
        CsvScanExecNode, FilterExecNode, GenerateSeriesNode, PhysicalExtensionNode, SortExecNode,
    };

    fn encoded(plan: PhysicalPlanType) -> Vec<u8> {
        PhysicalPlanNode {
            physical_plan_type: Some(plan),
        }
        .encode_to_vec()
    }

    fn scan() -> PhysicalPlanNode {
        PhysicalPlanNode {
            physical_plan_type: Some(PhysicalPlanType::Extension(PhysicalExtensionNode {
                node: vec![1, 2, 3],
                inputs: Vec::new(),
            })),
        }
    }

    #[test]
    fn shoal_nodes_pass_and_others_are_named() {
        let filter = encoded(PhysicalPlanType::Filter(Box::new(FilterExecNode {
            input: Some(Box::new(scan())),
            ..Default::default()
        })));
        assert_eq!(check_fragment(&filter), Ok(()));

        let csv = encoded(PhysicalPlanType::CsvScan(CsvScanExecNode::default()));
        let error = check_fragment(&csv).unwrap_err().to_string();
        assert!(error.contains("a CsvScan node"), "{error}");

        let series = PhysicalPlanNode {
            physical_plan_type: Some(PhysicalPlanType::GenerateSeries(
                GenerateSeriesNode::default(),
            )),
        };
        let sorted = encoded(PhysicalPlanType::Sort(Box::new(SortExecNode {
            input: Some(Box::new(series)),
            fetch: -1,
            ..Default::default()
        })));
        let error = check_fragment(&sorted).unwrap_err().to_string();
        assert!(error.contains("a GenerateSeries node"), "{error}");

        let top_none = encoded(PhysicalPlanType::Sort(Box::new(SortExecNode {
            input: Some(Box::new(scan())),
            fetch: 0,
            ..Default::default()
        })));
        let error = check_fragment(&top_none).unwrap_err().to_string();
        assert!(error.contains("a top-k of zero rows"), "{error}");

        let smuggled = encoded(PhysicalPlanType::Extension(PhysicalExtensionNode {
            node: Vec::new(),
            inputs: vec![PhysicalPlanNode {
                physical_plan_type: Some(PhysicalPlanType::CsvScan(CsvScanExecNode::default())),
            }],
        }));
        assert!(check_fragment(&smuggled).is_err());
        assert!(check_fragment(b"\xff\xff\xff").is_err());
    }

    #[test]
    fn deep_chains_are_refused() {
        let mut node = scan();
        for _ in 0..=MAX_PLAN_DEPTH {
            node = PhysicalPlanNode {
                physical_plan_type: Some(PhysicalPlanType::Filter(Box::new(FilterExecNode {
                    input: Some(Box::new(node)),
                    ..Default::default()
                }))),
            };
        }
        let error = check_fragment(&node.encode_to_vec())
            .unwrap_err()
            .to_string();
        assert!(error.contains("nested"), "{error}");
    }
}
