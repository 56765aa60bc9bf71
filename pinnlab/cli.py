"""Command line: ``pinnlab solve | validate | list | export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pinnlab.errors import PinnlabError


def _solve(args: argparse.Namespace) -> int:
    from pinnlab.run import solve
    from pinnlab.run.teng import is_teng_file, solve_teng_cli

    if is_teng_file(args.config):
        return solve_teng_cli(args)
    solution = solve(args.config, out=args.out, overrides=args.set, device=args.device, resume=args.resume,
                     progress=False if args.quiet else None)
    m = solution.metrics
    errors = ", ".join(f"{k} {v:.3e}" for k, v in m.get("rel_l2", {}).items())
    print(f"run directory: {solution.run_dir}")
    print(f"steps {m['steps']}, wall time {m['wall_time_s']:.1f} s, loss {m['loss']:.3e}"
          + (f", rel. L2: {errors}" if errors else ""))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from pinnlab.config import load_config
    from pinnlab.config.build import (
        check_faces,
        geometry_of,
        model_from_config,
        problem_from_config,
        program_from_config,
    )
    from pinnlab.errors import ConfigError
    from pinnlab.nn import parameters_of
    from pinnlab.run.teng import is_teng_file
    from pinnlab.run.trainer import FIXED_METHODS
    from pinnlab.sampling import sampler_names
    from pinnlab.solvers import make_solver

    if is_teng_file(args.config):
        return _validate_teng(args)
    cfg = load_config(args.config, args.set)
    problem = problem_from_config(cfg.problem, args.config)
    geometry = geometry_of(problem, args.config)
    program = program_from_config(cfg, problem, args.config)
    check_faces(program, geometry, args.config)
    params = parameters_of(model_from_config(cfg.model, problem, geometry, None, args.config))
    for k, stage in enumerate(cfg.stages()):
        options = dict(stage)
        try:
            make_solver(options.pop("name"), **options).init(params)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{args.config}: solver stage {k + 1} ('{stage['name']}'): {exc}") from None
    methods = [*FIXED_METHODS, *(s for s in sampler_names() if s != "fixed")]
    if cfg.sampling.method not in methods:
        raise ConfigError(f"{args.config}: key 'sampling.method': unknown method '{cfg.sampling.method}' "
                          f"(methods: {', '.join(methods)})")
    terms = ", ".join(program.terms)
    print(f"{args.config}: OK ({problem.name}: coordinates {problem.pde.columns if len(problem.pde.columns) <= 6 else len(problem.pde.columns)}, "
          f"fields {problem.pde.fields}, terms {terms})")
    return 0


def _validate_teng(args: argparse.Namespace) -> int:
    from pinnlab.config import apply_overrides, read_yaml
    from pinnlab.config.build import problem_from_config
    from pinnlab.run.teng import parse_teng_config, periodic_setup

    cfg = parse_teng_config(apply_overrides(read_yaml(args.config), args.set), args.config)
    periodic_setup(problem_from_config(cfg.problem, args.config), args.config)
    print(f"{args.config}: OK (TENG, integrator {cfg.teng.integrator}, dt {cfg.teng.dt})")
    return 0


def _list(args: argparse.Namespace) -> int:
    from pinnlab.autodiff import backend_names
    from pinnlab.equations import equation_entries
    from pinnlab.sampling import sampler_names
    from pinnlab.solvers import solver_names

    print("equations:")
    for entry in equation_entries():
        print(f"  {entry.name:<16} {entry.summary}")
    print("solvers:     " + ", ".join(solver_names()))
    print("derivatives: " + ", ".join(backend_names()))
    print("samplers:    uniform, sobol, lhs" + "".join(f", {s}" for s in sampler_names() if s != "fixed"))
    return 0


def _export(args: argparse.Namespace) -> int:
    from pinnlab.run import load
    from pinnlab.run.export import export_vtk

    solution = load(args.run_dir)
    out = Path(args.out) if args.out else Path(args.run_dir) / "vtk"
    frames = (solution.config.get("output") or {}).get("frames", 11)
    written = export_vtk(solution, out, args.resolution, args.frames or frames)
    for path in written:
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pinnlab", description="Physics-informed neural network solver.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("solve", help="solve the problem of a YAML configuration")
    p.add_argument("config")
    p.add_argument("--out", help="run directory (default runs/NAME, never overwritten)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.steps=200 (repeatable)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--resume", action="store_true", help="continue from the run directory's last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_solve)
    v = sub.add_parser("validate", help="check a configuration without solving")
    v.add_argument("config")
    v.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    v.set_defaults(func=_validate)
    ls = sub.add_parser("list", help="list built-in equations, solvers, derivative methods and samplers")
    ls.set_defaults(func=_list)
    e = sub.add_parser("export", help="write the VTK output of a run again")
    e.add_argument("run_dir")
    e.add_argument("--resolution", type=int, nargs="+")
    e.add_argument("--frames", type=int)
    e.add_argument("--out")
    e.set_defaults(func=_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "resolution", None) and len(args.resolution) == 1:
        args.resolution = args.resolution[0]
    try:
        return args.func(args)
    except PinnlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: a checkpoint was saved; continue with --resume --out RUN_DIR", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
