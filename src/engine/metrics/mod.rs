//! How good a map is: faithfulness to the model (deletion / insertion, confidence change,
//! ROAD) and localization (boxes from maps, WSOL scores against ground-truth boxes).

pub mod dataset;
pub mod faithfulness;
pub mod localize;
pub mod road;
pub mod wsol;
