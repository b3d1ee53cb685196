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
//! Expressions inside those nodes name functions, which the receiving side
//! resolves in its own registry (DataFusion's built-ins and Shoal's own), so
//! a fragment cannot bring code of its own. The extension codec decodes
//! only [`shoal_proto::TableScanNode`]s.

use datafusion_proto::protobuf::partitioning::PartitionMethod;
use datafusion_proto::protobuf::physical_plan_node::PhysicalPlanType;
use datafusion_proto::protobuf::{AggregateMode, PhysicalPlanNode};
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
    let node = PhysicalPlanNode::decode(plan)
        .map_err(|e| FragmentRefused(format!("not a physical plan: {e}")))?;
    check_node(&node, 0)
}

fn check_node(node: &PhysicalPlanNode, depth: usize) -> Result<(), FragmentRefused> {
    if depth > MAX_PLAN_DEPTH {
        return Err(FragmentRefused(format!(
            "nodes nested more than {MAX_PLAN_DEPTH} deep"
        )));
    }
    let Some(plan) = &node.physical_plan_type else {
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
            aggregate.input.as_deref()
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
            repartition.input.as_deref()
        }
        PhysicalPlanType::Filter(filter) => filter.input.as_deref(),
        PhysicalPlanType::Projection(projection) => projection.input.as_deref(),
        PhysicalPlanType::Sort(sort) => sort.input.as_deref(),
        PhysicalPlanType::LocalLimit(limit) => limit.input.as_deref(),
        PhysicalPlanType::CoalesceBatches(coalesce) => coalesce.input.as_deref(),
        PhysicalPlanType::Cooperative(cooperative) => cooperative.input.as_deref(),
        other => return Err(FragmentRefused(format!("a {} node", node_name(other)))),
    };
    match input {
        Some(input) => check_node(input, depth + 1),
        None => Err(FragmentRefused("a node without its input".to_string())),
    }
}

/// The node's name as datafusion-proto spells it (`CsvScan`, `HashJoin`).
fn node_name(plan: &PhysicalPlanType) -> String {
    let debug = format!("{plan:?}");
    debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("unknown")
        .to_string()
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
            ..Default::default()
        })));
        let error = check_fragment(&sorted).unwrap_err().to_string();
        assert!(error.contains("a GenerateSeries node"), "{error}");

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
