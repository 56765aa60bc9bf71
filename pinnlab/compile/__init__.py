"""Problem -> residual program: loss terms, expression evaluation over tensors and jets, objectives."""

from pinnlab.compile.data import Observations, load_data
from pinnlab.compile.evaluate import TORCH_OPS, TorchOps, evaluate
from pinnlab.compile.evolution import EvolutionObjective, EvolutionOperator
from pinnlab.compile.exact import exact_function
from pinnlab.compile.objective import Objective
from pinnlab.compile.parameters import ParameterMap
from pinnlab.compile.program import Batch, PointSet, ResidualProgram, Term
from pinnlab.compile.synthetic import synthesize
from pinnlab.compile.transform import OutputTransform

__all__ = [
    "TORCH_OPS", "Batch", "EvolutionObjective", "EvolutionOperator", "Objective", "Observations", "OutputTransform",
    "ParameterMap", "PointSet", "ResidualProgram", "Term", "TorchOps", "evaluate", "exact_function", "load_data",
    "synthesize",
]
