"""`fine-tune-base`: build the embedded base model (tokenizer + pre-training), and ship it.

    fine-tune-base                          # the default recipe (conf/model/tiny.yaml): cached, or built
    fine-tune-base --rebuild                # build it again into the cache, even if one is there
    fine-tune-base --rebuild --ship         # ... and write it into the package (fine_tune/models/embedded_base)
    fine-tune-base model.tiny.hidden_size=320 model.tiny.pretrain_steps=8000   # another recipe

The default recipe's pre-training takes hours on 2 CPU cores (minutes on a GPU), which is
why its result ships with the package: every fresh machine would otherwise pay for it.
`--ship` replaces the packaged files with the build (weights, tokenizer, and the marker
holding the recipe, its cache key and the weights' sha256), for a commit.
"""

from __future__ import annotations

import argparse
import json
import shutil

from fine_tune.config import conf_dir, register_configs
from fine_tune.errors import UserError, exit_on_error
from fine_tune.models.tiny import MARKER, SHIPPED, tiny_model_dir

PROG = "fine-tune-base"


def _spec(overrides: list[str]):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf


    bad = [o for o in overrides if not o.startswith("model.tiny.") or "=" not in o]
    if bad:
        raise UserError(f"override '{bad[0]}': {PROG} takes model.tiny.<key>=<value> only")
    register_configs()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=["model=tiny", *overrides])
    return OmegaConf.to_object(cfg.model.tiny), cfg.cache_dir


def build_base(overrides: list[str], rebuild: bool, ship: bool) -> dict:
    """Build (or find) the base the overrides describe; with `ship`, copy it into the package."""

    spec, cache_dir = _spec(overrides)
    folder = tiny_model_dir(spec, cache_dir, rebuild=rebuild)
    marker = json.loads((folder / MARKER).read_text())
    if ship and folder != SHIPPED:
        shutil.rmtree(SHIPPED, ignore_errors=True)
        shutil.copytree(folder, SHIPPED, ignore=shutil.ignore_patterns("_pretrain", "*.lock"))
        folder = SHIPPED
    return {"folder": str(folder), **marker}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="model.tiny.<key>=<value> settings of the recipe")
    parser.add_argument("--rebuild", action="store_true", help="build again even if a build is there")
    parser.add_argument("--ship", action="store_true", help="write the build into the package, for a commit")
    args = parser.parse_args(argv)
    built = exit_on_error(PROG, lambda: build_base(args.overrides, args.rebuild, args.ship))
    stats = built.get("pretraining") or {}
    print(f"{built['folder']}: key {built['key']}, weights sha256 {built['weights_sha256'][:16]}...")
    if stats:
        print(f"pre-trained {stats.get('parameters', 0) / 1e6:.2f}M parameters on {stats['tokens']:,} tokens "
              f"({stats['steps']} steps, {stats['device']}, {stats['runtime_s'] or 0:.0f} s): "
              f"loss {stats['first_loss']:.3f} -> {stats['final_loss']:.3f}")


if __name__ == "__main__":
    main()
