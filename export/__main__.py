"""python -m export: checkpoints -> verified ONNX files (and a Triton model repository).

    python -m export --checkpoint checkpoints/bilstm --out exports/bilstm.onnx
    python -m export --all                      # every checkpoint -> exports/NAME.onnx
    python -m export --triton triton_repo       # every checkpoint -> triton_repo/NAME/...
    python -m export --web web_site [--models bilstm gru]   # the in-browser lesson widget (static site)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnn_demo.checkpoint import CheckpointError, discover_checkpoints

from .onnx_export import OPSET, ExportVerificationError, export_checkpoint
from .triton import DEFAULT_MAX_BATCH, write_model


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
    failures = 0
    for folder in folders:
        try:
            if args.triton is not None:
                result = write_model(folder, args.triton, with_states=args.states,
                                     max_batch_size=args.max_batch_size)
            else:
                out = args.out if (args.out is not None and args.checkpoint is not None) \
                    else args.out_dir / f"{Path(folder).name}.onnx"
                result = export_checkpoint(folder, out, with_states=args.states, opset=args.opset)
            print(result.summary())
        except (CheckpointError, ExportVerificationError) as exc:
            failures += 1
            print(f"FAILED {folder}: {exc}", file=sys.stderr)
    if failures:
        print(f"{failures} of {len(folders)} exports failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
