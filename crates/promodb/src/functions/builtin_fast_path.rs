//! A DataFusion built-in scalar function with a faster path for some arguments.
//!
//! promodb registers a few built-ins (`date_trunc`, `date_part`) under their own names
//! with a path of its own for the arguments promo queries use most, computed with
//! exactly the built-in's rules; any other arguments go to the built-in. Everything
//! else the planner asks of a function (signature, return type, ordering, preimage,
//! documentation) is the built-in's.

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::preimage::PreimageResult;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature,
};

/// The result for arguments the fast path handles, `None` for the others.
pub type FastPath = fn(&[ColumnarValue]) -> Option<ColumnarValue>;

/// A built-in scalar function (`inner`), with `fast_path` tried first. A built-in has
/// at most one fast path, so two are equal when their built-ins are.
#[derive(Debug)]
pub struct BuiltinWithFastPath {
    inner: ScalarUDF,
    fast_path: FastPath,
}

impl PartialEq for BuiltinWithFastPath {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}

impl Eq for BuiltinWithFastPath {}

impl std::hash::Hash for BuiltinWithFastPath {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.hash(state);
    }
}

impl BuiltinWithFastPath {
    /// `inner`, registered under its own name, with `fast_path` tried first.
    pub fn new(inner: ScalarUDF, fast_path: FastPath) -> Self {
        Self { inner, fast_path }
    }
}

impl ScalarUDFImpl for BuiltinWithFastPath {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(input)
    }

    fn preimage(
        &self,
        args: &[Expr],
        lit_expr: &Expr,
        info: &SimplifyContext,
    ) -> Result<PreimageResult> {
        self.inner.preimage(args, lit_expr, info)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match (self.fast_path)(&args.args) {
            Some(result) => Ok(result),
            None => self.inner.invoke_with_args(args),
        }
    }
}
