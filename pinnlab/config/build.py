"""Turn a validated configuration into the objects a run needs: problem, geometry, model, program."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch

from pinnlab.autodiff import make_backend
from pinnlab.compile import OutputTransform, ResidualProgram
from pinnlab.compile.data import check_inside
from pinnlab.compile.lift import exact_boundary, lifted_conditions
from pinnlab.config.messages import problem_error
from pinnlab.config.schema import ModelConfig, ProblemConfig, RunConfig
from pinnlab.equations import get_equation
from pinnlab.errors import ConfigError, SpecError, did_you_mean
from pinnlab.geometry import Geometry, geometry_from_dict
from pinnlab.geometry.factory_shapes import absolute_mesh_paths
from pinnlab.nn import MLP, FourierFeatures, InputScaling, PeriodicEmbedding, PINNModel
from pinnlab.nn.fields import FieldNetworks
from pinnlab.nn.layers import ACTIVATIONS
from pinnlab.spec import CONDITION_TYPES, PDE, Periodic, Problem
from pinnlab.spec import expr as expr_mod


def problem_from_config(cfg: ProblemConfig, source: str = "<config>") -> Problem:
    """A :class:`Problem` from the ``problem`` section (built-in or inline).

    Relative mesh files of the domain are made absolute in ``cfg`` (found next to the
    configuration file, else in the working directory), so a run directory's resolved
    configuration finds them again. A ``reference`` file (relative to the configuration
    file) replaces the problem's reference: errors are then measured at its points.
    """
    problem = _problem_from_config(cfg, source)
    return problem if cfg.reference is None else with_reference_data(problem, cfg, source)


def with_reference_data(problem: Problem, cfg: ProblemConfig, source: str = "<config>") -> Problem:
    """``problem`` with the reference values of ``cfg.reference`` (its file made absolute in ``cfg``)."""
    from pinnlab.compile.reference_data import load_reference_data

    spec = cfg.reference
    assert spec is not None
    path = Path(spec.file).expanduser()
    if not path.is_absolute() and Path(source).is_file() and (Path(source).parent / path).exists():
        path = Path(source).parent / path  # next to the configuration file, else in the working directory
    if path.exists():
        spec.file = str(path.resolve())
    geometry = geometry_of(problem, source)
    try:
        data = load_reference_data(str(path), problem, geometry, spec.fields, spec.tolerance)
    except SpecError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return problem.replace(reference=data)


def _problem_from_config(cfg: ProblemConfig, source: str) -> Problem:
    if isinstance(cfg.domain, dict):
        cfg.domain = absolute_mesh_paths(cfg.domain, Path(source).parent if Path(source).is_file() else None)
    try:
        if cfg.equation is not None:
            problem = get_equation(cfg.equation, **cfg.options)
            changes: dict[str, Any] = {}
            if cfg.parameters:
                values = {k: v if isinstance(v, float) else v.model_dump(exclude_none=True)
                          for k, v in cfg.parameters.items()}
                changes["pde"] = problem.pde.with_parameters(**values)
            if cfg.domain is not None:
                changes["domain"] = cfg.domain
            if cfg.conditions is not None:
                changes["conditions"] = conditions_from_dict(cfg.conditions, source)
            if cfg.exact is not None:
                changes["exact"] = cfg.exact
            return problem.replace(**changes) if changes else problem
        pde = pde_from_dict(cfg.pde or {}, source)
        conditions = conditions_from_dict(cfg.conditions or {}, source)
        return Problem(pde, cfg.domain, conditions, exact=cfg.exact, name="custom")
    except (SpecError, ValueError, TypeError, ArithmeticError) as exc:  # a value of the wrong type or size too
        raise problem_error(exc, source, inline=cfg.equation is None,
                            fallback="problem.options" if cfg.equation is not None and cfg.options else None) from None


def pde_from_dict(data: dict[str, Any], source: str = "<config>") -> PDE:
    """An inline PDE: ``coordinates``, ``fields``, ``equations``, optional ``parameters``, ``time``."""
    allowed = {"coordinates", "fields", "equations", "parameters", "time"}
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise ConfigError(f"{source}: unknown key 'problem.pde.{unknown[0]}'{did_you_mean(unknown[0], sorted(allowed))}")
    for key in ("coordinates", "fields", "equations"):
        if key not in data:
            raise ConfigError(f"{source}: key 'problem.pde.{key}' is missing")
    if not isinstance(data["equations"], dict):
        raise ConfigError(f"{source}: key 'problem.pde.equations' must map names to expressions")
    for key in ("coordinates", "fields"):
        if not isinstance(data[key], list):
            raise ConfigError(f"{source}: key 'problem.pde.{key}' must be a list of names, got {data[key]!r}")
    if not isinstance(data.get("parameters") or {}, dict):
        raise ConfigError(f"{source}: key 'problem.pde.parameters' must map names to values, "
                          f"got {data['parameters']!r}")
    for name, value in (data.get("parameters") or {}).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{source}: key 'problem.pde.parameters.{name}': must be a finite number, got {value}")
    return PDE(coordinates=list(data["coordinates"]), fields=list(data["fields"]),
               equations=dict(data["equations"]), parameters=dict(data.get("parameters") or {}),
               time=data.get("time"))


def conditions_from_dict(data: dict[str, dict[str, Any]], source: str = "<config>") -> dict[str, Any]:
    """Conditions from ``{name: {type: ..., ...}}``."""
    out = {}
    for name, spec in data.items():
        if not isinstance(spec, dict) or "type" not in spec:
            raise ConfigError(f"{source}: key 'problem.conditions.{name}' needs a 'type' "
                              f"({', '.join(CONDITION_TYPES)})")
        spec = dict(spec)
        kind = spec.pop("type")
        cls = CONDITION_TYPES.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise ConfigError(f"{source}: key 'problem.conditions.{name}.type': unknown condition type "
                              f"'{kind}'{did_you_mean(kind, CONDITION_TYPES)}")
        if kind == "data" and "points" in spec and not isinstance(spec["points"], int):
            spec["coords"] = spec.pop("points")
        try:
            out[name] = cls(**spec)
        except TypeError as exc:
            valid = [f.name for f in dataclasses.fields(cls) if f.init]
            raise ConfigError(f"{source}: key 'problem.conditions.{name}': {exc} (valid keys: type, "
                              f"{', '.join(valid)})") from None
    return out


def geometry_of(problem: Problem, source: str = "<config>") -> Geometry:
    """The problem's domain as a geometry object."""
    if isinstance(problem.domain, Geometry):
        return problem.domain
    pde = problem.pde
    dims = {c.name: c.dim for c in pde.coordinates if c.dim is not None}
    root = Path(source).parent if Path(source).is_file() else None
    try:
        return geometry_from_dict(problem.domain, [c.name for c in pde.coordinates], pde.time, dims=dims, root=root)
    except (SpecError, TypeError, ValueError) as exc:  # a value of the wrong type is a bad domain too
        raise ConfigError(f"{source}: key 'problem.domain': {exc}") from None


def model_from_config(cfg: ModelConfig, problem: Problem, geometry: Geometry,
                      generator: torch.Generator | None = None, source: str = "<config>") -> PINNModel:
    """The network for a problem: scaling to [-1,1], embeddings, MLP, output transform."""
    pde = problem.pde
    if cfg.activation not in ACTIVATIONS:
        raise ConfigError(f"{source}: key 'model.activation': unknown activation '{cfg.activation}' "
                          f"(available: {', '.join(ACTIVATIONS)})")
    low, high = geometry.bounding_box()
    n_in = len(pde.columns)
    scaling = InputScaling(low, high)
    periodic = None
    if cfg.periodic:
        periods = _periods(cfg.periodic, problem, low, high, source)
        # periods are in scaled units: the box maps to [-1, 1]
        scaled = {col: p * 2.0 / (high[col] - low[col]) for col, p in periods.items()}
        periodic = PeriodicEmbedding(n_in, scaled, harmonics=cfg.harmonics)
    width_in = periodic.out_dim if periodic is not None else n_in
    fourier = None
    if cfg.fourier is not None:
        sigma = _fourier_scales(cfg.fourier.sigma, problem, periodic, source)
        fourier = FourierFeatures(width_in, cfg.fourier.features, sigma, cfg.fourier.trainable,
                                  generator=generator)
        width_in = fourier.out_dim
    body = _body(cfg, pde.fields, width_in, generator, source)
    transform = None
    exact = _exact_boundary(cfg, problem, geometry, source)
    if cfg.output or exact:
        ns = expr_mod.Namespace(
            fields=tuple(pde.fields), scalar_coords=pde.namespace().scalar_coords,
            vector_coords=pde.namespace().vector_coords, parameters=tuple(pde.parameters),
            boundaries=tuple(geometry.faces),
        )
        exprs, distances = {}, {}
        for field, text in cfg.output.items():
            if field not in pde.fields:
                raise ConfigError(f"{source}: key 'model.output.{field}': '{field}' is not a field ({pde.fields})")
            if field in exact:
                raise ConfigError(f"{source}: key 'model.output.{field}': '{field}' has Dirichlet conditions imposed "
                                  "exactly by 'model.exact_boundary'; give one or the other")
            try:
                node = expr_mod.parse(text, ns, f"output transform of '{field}'")
            except SpecError as exc:
                raise ConfigError(f"{source}: key 'model.output.{field}': {exc}") from None
            if expr_mod.max_derivative_order(node) > 0:
                raise ConfigError(f"{source}: key 'model.output.{field}': derivatives are not allowed here")
            learned = sorted(expr_mod.symbols(node) & set(pde.trainable_parameters))
            if learned:
                raise ConfigError(f"{source}: key 'model.output.{field}': '{learned[0]}' is a trainable parameter; "
                                  "hard constraints may use fixed parameters only")
            exprs[pde.fields.index(field)] = node
            distances.update(_distances(node, geometry, f"{source}: key 'model.output.{field}'"))
        for field, node in exact.items():
            exprs[pde.fields.index(field)] = node
            distances.update(_distances(node, geometry, f"{source}: key 'model.exact_boundary'"))
        transform = OutputTransform(exprs, pde.column_map(), pde.fields, pde.parameter_values, distances)
    return PINNModel(scaling, body, periodic=periodic, fourier=fourier, transform=transform)


def _exact_boundary(cfg: ModelConfig, problem: Problem, geometry: Geometry, source: str) -> dict[str, expr_mod.Node]:
    """The output expressions of ``model.exact_boundary``: transfinite lift of the Dirichlet values + dist·N."""
    try:
        names = lifted_conditions(problem, cfg.exact_boundary)
        return exact_boundary(problem, names, geometry.faces, cfg.lift_exponent) if names else {}
    except SpecError as exc:
        raise ConfigError(f"{source}: key 'model.exact_boundary': {exc}") from None


def _distances(node: expr_mod.Node, geometry: Geometry, where: str) -> dict[tuple[str, ...], Any]:
    """The geometry's distance function for every ``dist(...)`` in an output expression."""
    out = {}
    for n in expr_mod.walk(node):
        if isinstance(n, expr_mod.Distance) and n.boundary not in out:
            try:
                out[n.boundary] = geometry.distance_function(list(n.boundary) or None)
            except ValueError as exc:
                raise ConfigError(f"{where}: dist(): {exc}") from None
    return out


def _body(cfg: ModelConfig, fields: list[str], width_in: int, generator: torch.Generator | None,
          source: str) -> torch.nn.Module:
    """The MLP of every field, or with ``model.fields`` the shared MLP and the fields' own networks."""
    if not cfg.fields:
        return MLP(width_in, len(fields), cfg.width, cfg.depth, cfg.activation, generator=generator)
    own_specs = {}
    for name, spec in cfg.fields.items():
        key = f"model.fields.{name}"
        if name not in fields:
            raise ConfigError(f"{source}: key '{key}': '{name}' is not a field{did_you_mean(name, fields)} "
                              f"(fields: {', '.join(fields)})")
        if spec.network == "shared" and (spec.width, spec.depth, spec.activation) != (None, None, None):
            raise ConfigError(f"{source}: key '{key}': width, depth and activation belong to 'network: own'")
        if spec.activation is not None and spec.activation not in ACTIVATIONS:
            raise ConfigError(f"{source}: key '{key}.activation': unknown activation '{spec.activation}' "
                              f"(available: {', '.join(ACTIVATIONS)})")
        if spec.network == "own":
            own_specs[name] = spec
    shared_fields = [f for f in fields if f not in own_specs]
    shared = (MLP(width_in, len(shared_fields), cfg.width, cfg.depth, cfg.activation, generator=generator)
              if shared_fields else None)
    own = {f: MLP(width_in, 1, s.width or cfg.width, s.depth or cfg.depth, s.activation or cfg.activation,
                  generator=generator) for f, s in own_specs.items()}
    positive = {f: ("softplus" if s.positive is True else s.positive) for f, s in cfg.fields.items() if s.positive}
    return FieldNetworks(fields, shared, shared_fields, own, positive)


def _fourier_scales(sigma: float | dict[str, float], problem: Problem, periodic: PeriodicEmbedding | None,
                    source: str) -> float | list[float]:
    """``model.fourier.sigma`` as the Fourier layer takes it: one scale, or one per column it sees."""
    if not isinstance(sigma, dict):
        return sigma
    pde = problem.pde
    names = [c.name for c in pde.coordinates]
    unknown = sorted(set(sigma) - set(names))
    missing = [n for n in names if n not in sigma]
    if unknown or missing:
        what = f"'{unknown[0]}' is not a coordinate" if unknown else f"no scale for coordinate '{missing[0]}'"
        raise ConfigError(f"{source}: key 'model.fourier.sigma': {what} (give one scale for each of: "
                          f"{', '.join(names)})")
    per_column = []
    for c in pde.coordinates:
        per_column += [float(sigma[c.name])] * len(c.columns)
    if periodic is None:
        return per_column
    # the periodic embedding passes the other columns through, then cos and sin of each periodic column
    harmonics = periodic.frequencies.shape[1]
    waves = [per_column[c] for c in periodic.periodic for _ in range(harmonics)]
    return [per_column[c] for c in periodic.passthrough] + waves + waves


def _periods(spec: dict[str, float] | bool, problem: Problem, low: list[float], high: list[float],
             source: str) -> dict[int, float]:
    cmap = problem.pde.column_map()
    if spec is True:
        coords = [c.coordinate for c in problem.conditions.values() if isinstance(c, Periodic)]
        if not coords:
            raise ConfigError(f"{source}: key 'model.periodic': true, but the problem has no periodic condition")
        out = {}
        for name in coords:
            col = cmap[name]
            out[col] = high[col] - low[col]
        return out
    out = {}
    for name, period in dict(spec).items():
        if name not in cmap or not isinstance(cmap[name], int):
            raise ConfigError(f"{source}: key 'model.periodic.{name}': not a scalar coordinate")
        out[cmap[name]] = float(period)
    return out


def backend_from_config(cfg: RunConfig, source: str = "<config>"):
    """The derivative backend named in ``derivatives.method``."""
    d = cfg.derivatives
    options: dict[str, Any] = {}
    if d.method == "stde":
        options = {"samples": d.samples, "kind": d.kind, "seed": d.seed}
    elif d.method == "taylor":
        options = {"collapsed": d.collapsed}
    try:
        return make_backend(d.method, **options)
    except ValueError as exc:
        raise ConfigError(f"{source}: key 'derivatives.method': {exc}") from None


def check_faces(program: ResidualProgram, geometry: Geometry, source: str = "<config>") -> None:
    """Every boundary face a condition names (``on``) must exist on the domain."""
    valid = list(geometry.faces)
    for ps in program.point_sets.values():
        unknown = [f for f in ps.faces or [] if f not in valid]
        if unknown:
            hint = did_you_mean(unknown[0], valid)
            raise ConfigError(f"{source}: key 'problem.conditions.{ps.name}.on': unknown face or coordinate "
                              f"'{unknown[0]}'{hint}; faces of this domain: {', '.join(valid)}")


def check_data(program: ResidualProgram, geometry: Geometry, source: str = "<config>") -> None:
    """Every observation of a data condition (held-out ones too) must lie in the domain."""
    columns = program.pde.columns
    try:
        for ps in program.point_sets.values():
            if ps.kind == "data" and ps.coords is not None:
                check_inside(ps.name, ps.coords, geometry, columns)
                if ps.held_out is not None:
                    check_inside(ps.name, ps.held_out.coords, geometry, columns, "validation ")
    except SpecError as exc:
        raise ConfigError(f"{source}: problem: {exc}") from None


def program_from_config(cfg: RunConfig, problem: Problem, source: str = "<config>") -> ResidualProgram:
    """Compile the problem with the configured derivative backend and point counts."""
    s = cfg.sampling
    defaults = {"interior": s.interior, "boundary": s.boundary, "initial": s.initial}
    conditions = dict(problem.conditions)
    recounted = False
    try:  # conditions imposed exactly by the output transform have no loss term
        exact = lifted_conditions(problem, cfg.model.exact_boundary)
    except SpecError as exc:
        raise ConfigError(f"{source}: key 'model.exact_boundary': {exc}") from None
    for name, n in s.points.items():
        if name == "interior":
            defaults["interior"] = n
        elif name in conditions:
            conditions[name] = conditions[name].replace(points=n)
            recounted = True
        else:
            raise ConfigError(f"{source}: key 'sampling.points.{name}': no such term "
                              f"(terms: interior, {', '.join(conditions)})")
    terms = [*problem.pde.equations, *conditions]
    unknown = [k for k in cfg.loss.weights if k not in terms]
    if unknown:
        raise ConfigError(f"{source}: key 'loss.weights.{unknown[0]}': no such term{did_you_mean(unknown[0], terms)}; "
                          f"terms: {', '.join(terms)}")
    try:
        if recounted or exact:
            problem = problem.replace(conditions={k: c for k, c in conditions.items() if k not in exact})
        return ResidualProgram(problem, backend_from_config(cfg, source), defaults)
    except (SpecError, ValueError, TypeError, ArithmeticError) as exc:  # a value of the wrong type or size too
        raise problem_error(exc, source, inline=cfg.problem.equation is None) from None
