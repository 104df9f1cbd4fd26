"""python -m hrm.hub save <checkpoint> <folder> [--force]    a checkpoint as a folder to share (safetensors,
                                                          config.json, a model card)
python -m hrm.hub push <folder> <user/name> [--private]    that folder to the Hugging Face hub (a network and
                                                          a token: `hf auth login` or HF_TOKEN)"""

from __future__ import annotations

import sys

from hrm.utils.cli import ArgumentParser, one_line_errors


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m hrm.hub", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    save = commands.add_parser("save", help="a checkpoint as a folder to share")
    save.add_argument("checkpoint")
    save.add_argument("folder")
    save.add_argument("--force", action="store_true", help="replace an existing folder")
    push = commands.add_parser("push", help="a saved folder to the Hugging Face hub")
    push.add_argument("folder")
    push.add_argument("repo_id", help="user/name")
    push.add_argument("--private", action="store_true")

    def body() -> int:
        from hrm.hub.pretrained import push_to_hub, save_pretrained

        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
        if args.command == "save":
            folder = save_pretrained(args.checkpoint, args.folder, force=args.force)
            print(f"saved {folder}/ (model.safetensors, config.json, README.md); load it with "
                  f"hrm.hub.from_pretrained(\"{folder}\") or python -m hrm.predict ckpt={folder} input=...")
        else:
            print(f"uploaded to {push_to_hub(args.folder, args.repo_id, private=args.private)}")
        return 0

    return one_line_errors(body)


if __name__ == "__main__":
    raise SystemExit(main())
