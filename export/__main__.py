"""python -m export: checkpoints -> verified ONNX files (and a Triton model repository).

    python -m export --checkpoint checkpoints/bilstm --out exports/bilstm.onnx
    python -m export --all                      # every checkpoint -> exports/NAME.onnx
    python -m export --triton triton_repo       # every checkpoint -> triton_repo/NAME/...
    python -m export --web web_site [--models bilstm gru]   # the in-browser lesson widget (static site)

An existing file is replaced only with --overwrite, and nothing is ever written into a
checkpoint's folder; both are checked for every output before the first export starts.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnn_demo.checkpoint import TOKENIZER_FILE, CheckpointError, discover_checkpoints

from .onnx_export import OPSET, ExportTargetError, ExportVerificationError, check_export_target, export_checkpoint
from .triton import CONFIG_FILE, DEFAULT_MAX_BATCH, MODEL_FILE, write_model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="one checkpoint folder to export")
    parser.add_argument("--out", type=Path, help="output .onnx path for --checkpoint (default exports/NAME.onnx)")
    parser.add_argument("--all", action="store_true", help="export every checkpoint under --checkpoints-dir")
    parser.add_argument("--checkpoints-dir", type=Path, default=Path("checkpoints"),
                        help="where --all and --triton look for checkpoints (default: checkpoints)")
    parser.add_argument("--out-dir", type=Path, default=Path("exports"),
                        help="folder for --all exports (default: exports)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files (never a checkpoint's own files)")
    parser.add_argument("--triton", type=Path, metavar="DIR",
                        help="write a Triton model repository to DIR (every checkpoint, or just --checkpoint)")
    parser.add_argument("--max-batch-size", type=int, default=DEFAULT_MAX_BATCH,
                        help=f"Triton max_batch_size (default {DEFAULT_MAX_BATCH})")
    parser.add_argument("--states", action="store_true",
                        help="also output per-step hidden states 'states' (batch, seq, directions*hidden)")
    parser.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset, >= 17 (default {OPSET})")
    parser.add_argument("--web", type=Path, metavar="DIR",
                        help="write the lesson widget (a static site running the models in the browser) to DIR; "
                             "needs `npm ci --prefix web` once")
    parser.add_argument("--models", nargs="+", metavar="NAME",
                        help="with --web: only these checkpoints (default: every recurrent one)")
    parser.add_argument("--precision", choices=("int8", "fp32"), default="int8",
                        help="with --web: int8 embedding table (default; ~4x smaller) or the fp32 graph as exported")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.web is not None:
        from .web import main as web_main
        return web_main(args.web, args.models, args.checkpoints_dir, args.precision)
    if args.opset < 17:
        print(f"error: --opset must be >= 17, got {args.opset}", file=sys.stderr)
        return 2
    if args.checkpoint is None and not args.all and args.triton is None:
        build_parser().print_usage(sys.stderr)
        print("error: give --checkpoint, --all or --triton DIR", file=sys.stderr)
        return 2
    if args.checkpoint is not None and args.all:
        print("error: --checkpoint and --all exclude each other", file=sys.stderr)
        return 2
    folders = [args.checkpoint] if args.checkpoint is not None else discover_checkpoints(args.checkpoints_dir)
    if not folders:
        print(f"error: no checkpoints found under {args.checkpoints_dir}", file=sys.stderr)
        return 1
    refused = _refused_targets(args, folders)
    if refused:
        for problem in refused:
            print(f"error: {problem}", file=sys.stderr)
        print("nothing was exported", file=sys.stderr)
        return 2
    failures = 0
    for folder in folders:
        try:
            if args.triton is not None:
                result = write_model(folder, args.triton, with_states=args.states,
                                     max_batch_size=args.max_batch_size)
            else:
                result = export_checkpoint(folder, _onnx_out(args, folder), with_states=args.states,
                                           opset=args.opset, overwrite=args.overwrite)
            print(result.summary())
        except (CheckpointError, ExportVerificationError, ExportTargetError) as exc:
            failures += 1
            print(f"FAILED {folder}: {exc}", file=sys.stderr)
    if failures:
        print(f"{failures} of {len(folders)} exports failed", file=sys.stderr)
        return 1
    return 0


def _onnx_out(args: argparse.Namespace, folder: Path) -> Path:
    return args.out if (args.out is not None and args.checkpoint is not None) else args.out_dir / f"{Path(folder).name}.onnx"


def _refused_targets(args: argparse.Namespace, folders: list[Path]) -> list[str]:
    """Why each output of this run may not be written (inside a checkpoint; exists without
    --overwrite), before any export starts."""
    problems = []
    for folder in folders:
        try:
            if args.triton is not None:  # triton.write_model: DIR/NAME/{1/model.onnx, config.pbtxt, tokenizer.json}
                model_dir = args.triton / Path(folder).name
                check_export_target(model_dir / "1" / MODEL_FILE, Path(folder), args.overwrite, write_tokenizer=False)
                for other in (model_dir / CONFIG_FILE, model_dir / TOKENIZER_FILE):
                    check_export_target(other, Path(folder), args.overwrite, write_tokenizer=False)
            else:
                check_export_target(_onnx_out(args, folder), Path(folder), args.overwrite)
        except ExportTargetError as exc:
            problems.append(str(exc))
    return problems


if __name__ == "__main__":
    sys.exit(main())
