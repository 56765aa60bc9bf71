"""Command line: ``pinnlab solve | validate | list | export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from pinnlab.errors import PinnlabError


def _launch(args: argparse.Namespace) -> int:
    """``pinnlab solve ... --nproc N``: the same command on N processes of this host, through torchrun."""
    from pinnlab.config import load_config
    from pinnlab.run.distributed import launch

    load_config(args.config, args.set)  # a bad configuration fails here, once, before any process starts
    argv = ["solve", args.config, *(a for s in args.set for a in ("--set", s))]
    argv += ["--out", args.out] if args.out else []
    argv += ["--device", args.device] if args.device else []
    argv += ["--resume"] * args.resume + ["--quiet"] * args.quiet
    code = launch(args.nproc, argv)
    if code != 0:
        print(f"error: the run on {args.nproc} processes failed (exit code {code}); the messages above name the "
              "rank that failed first", file=sys.stderr)
    return code


def _solve(args: argparse.Namespace) -> int:
    from pinnlab.run import solve
    from pinnlab.run.distributed import is_writer, launched_ranks

    if args.nproc is not None and args.nproc != launched_ranks():
        if launched_ranks() > 1:
            raise PinnlabError(f"--nproc {args.nproc} inside a torchrun job of {launched_ranks()} processes: leave "
                               "--nproc out (torchrun sets the number of processes)")
        return _launch(args)
    solution = solve(args.config, out=args.out, overrides=args.set, device=args.device, resume=args.resume,
                     progress=False if args.quiet else None)
    if not is_writer():  # rank 0 reports for a data-parallel run
        return 0
    m = solution.metrics
    errors = ", ".join(f"{k} {v:.3e}" for k, v in m.get("rel_l2", {}).items())
    print(f"run directory: {solution.run_dir}")
    if m.get("mode") == "teng":
        print(f"{m['method']}: {m['time_steps']} steps of dt {m['dt']}, wall time {m['wall_time_s']:.1f} s, "
              f"initial fit {m['initial_fit']['relative']:.2e}"
              + (f", rel. L2 at t = {m['t_end']:g}: {errors}" if errors else ""))
    else:
        print(f"steps {m['steps']}, wall time {m['wall_time_s']:.1f} s, loss {m['loss']:.3e}"
              + (f", rel. L2: {errors}" if errors else "")
              + (f" ({m['processes']} processes)" if m.get("processes") else ""))
    for name, entry in (m.get("parameters") or {}).items():
        error = f" (true {entry['true_value']:.6g}, rel. error {entry['rel_error']:.2e})" if "rel_error" in entry else ""
        print(f"parameter {name}: {entry['value']:.8g}{error}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from pinnlab.config import TengRunConfig, load_config
    from pinnlab.config.build import problem_from_config
    from pinnlab.config.messages import solver_error
    from pinnlab.run import default_dtype, make_setup
    from pinnlab.run.api import dtype_of
    from pinnlab.solvers import make_solver

    cfg = load_config(args.config, args.set)
    problem = problem_from_config(cfg.problem, args.config)
    with default_dtype(dtype_of(cfg)):
        setup = make_setup(cfg, problem, torch.device("cpu"), args.config)
        params = setup.initial_params()
        for k, stage in enumerate(setup.stages):
            options = dict(stage)
            try:
                make_solver(options.pop("name"), **options).init(params)
            except (ValueError, TypeError) as exc:
                raise solver_error(exc, args.config, cfg, k, stage) from None
    if isinstance(cfg, TengRunConfig):
        print(f"{args.config}: OK (TENG, integrator {cfg.teng.integrator}, dt {cfg.teng.dt}, "
              f"{setup.stages[1]['steps']} steps)")
        return 0
    pde = problem.pde
    columns = pde.columns if len(pde.columns) <= 6 else len(pde.columns)
    terms = ", ".join(setup.program.terms)
    learned = ", ".join(pde.trainable_parameters)
    print(f"{args.config}: OK ({problem.name}: coordinates {columns}, fields {pde.fields}, terms {terms}"
          + (f", trainable parameters {learned})" if learned else ")"))
    return 0


def _list(args: argparse.Namespace) -> int:
    from pinnlab.autodiff import backend_names
    from pinnlab.equations import equation_entries
    from pinnlab.run.setup import sampling_methods
    from pinnlab.solvers import solver_names

    print("equations:")
    for entry in equation_entries():
        print(f"  {entry.name:<16} {entry.summary}")
    print("solvers:     " + ", ".join(solver_names()))
    print("derivatives: " + ", ".join(backend_names()))
    print("samplers:    " + ", ".join(sampling_methods()))
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


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"needs at least 1, got {n}")
    return n


def _points_per_axis(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if n < 2:
        raise argparse.ArgumentTypeError(f"every axis needs at least 2 points (the two ends), got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    from pinnlab.version import __version__

    parser = argparse.ArgumentParser(prog="pinnlab", description="Physics-informed neural network solver.")
    parser.add_argument("--version", action="version", version=f"pinnlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("solve", help="solve the problem of a YAML configuration")
    p.add_argument("config")
    p.add_argument("--out", help="run directory (default runs/NAME, never overwritten)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.steps=200 (repeatable)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--resume", action="store_true", help="continue from the run directory's last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--nproc", type=_positive, metavar="N",
                   help="data-parallel on N processes of this host (starts torchrun; see docs/distributed.md)")
    p.set_defaults(func=_solve)
    v = sub.add_parser("validate", help="check a configuration without solving")
    v.add_argument("config")
    v.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    v.set_defaults(func=_validate)
    ls = sub.add_parser("list", help="list built-in equations, solvers, derivative methods and samplers")
    ls.set_defaults(func=_list)
    e = sub.add_parser("export", help="write the VTK output of a run again")
    e.add_argument("run_dir")
    e.add_argument("--resolution", type=_points_per_axis, nargs="+", metavar="N",
                   help="grid points per axis (one number, or one per axis; at least 2)")
    e.add_argument("--frames", type=_points_per_axis, metavar="K", help="frames of a time series (at least 2)")
    e.add_argument("--out")
    e.set_defaults(func=_export)
    return parser


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says that memory ran out (Python's MemoryError, torch's CPU or GPU allocators)."""
    return (isinstance(exc, (MemoryError, torch.OutOfMemoryError))
            or (isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "resolution", None) and len(args.resolution) == 1:
        args.resolution = args.resolution[0]
    try:
        return args.func(args)
    except PinnlabError as exc:
        from pinnlab.distributed import rank

        if rank() == 0:  # every rank of a data-parallel run meets the same error: one message
            print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if _out_of_memory(exc):
            detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            print(f"error: out of memory{f' ({detail})' if detail else ''}: a size in the configuration (points, "
                  "network width or depth, dimension, resolution) is too large for this machine", file=sys.stderr)
            return 2
        from pinnlab.distributed import is_distributed

        if not is_distributed():
            raise
        from pinnlab.run.distributed import end_failed_rank

        end_failed_rank(exc)
    except KeyboardInterrupt as exc:
        run_dir = getattr(exc, "run_dir", None)
        if run_dir is not None and getattr(exc, "saved", False):
            config = getattr(args, "config", "CONFIG")
            print(f"interrupted: a checkpoint was saved in '{run_dir}'; continue with\n"
                  f"  pinnlab solve {config} --out {run_dir} --resume", file=sys.stderr)
        else:
            print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
