"""GGUF out: llama.cpp's own converter, `convert_hf_to_gguf.py`, run on an exported safetensors folder.

    fine-tune-export <run> --gguf            # q8_0; f32, f16 and bf16 too: the converter writes them itself
    fine-tune-export <run> --gguf q4_k_m     # any other type: converted to f16, then llama.cpp's llama-quantize

The converter is Python (torch, numpy, sentencepiece and the gguf-py beside it): it needs no GPU
and no build. It is taken from a llama.cpp folder named by LLAMA_CPP_PATH (or UNSLOTH_LLAMA_CPP_PATH,
Unsloth's name for the same folder); else from `<environment>/share/llama.cpp` (`make test` puts it
there); else from the llama.cpp that PyPI's llama-cpp-python sdist vendors, fetched once into
`<cache>/llama.cpp/<version>/` (a download, nothing compiled). `llama-quantize` is C++: only a
folder with it built (`bash benchmarks/llama_cpp_offline.sh`) quantises further than q8_0.

    python -m fine_tune.gguf_export --fetch FOLDER     # the converter into FOLDER (what make test runs)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import NamedTuple

from fine_tune.cache import cache_path
from fine_tune.errors import UserError, exit_on_error
from fine_tune.outputs import file_lock, write_folder_atomic
from fine_tune.pip_files import downloaded

LLAMA_CPP_PYTHON = "0.3.36"  # the llama-cpp-python sdist whose vendored llama.cpp this was checked with
CONVERTER_TYPES = ("f32", "f16", "bf16", "q8_0")  # what convert_hf_to_gguf.py --outtype writes itself
CONVERTER_FILES = ("convert_hf_to_gguf.py", "conversion", "gguf-py", "LICENSE")
INSTALLED = Path(sys.prefix) / "share" / "llama.cpp"


def llama_cpp_folder(cache_dir: str) -> Path:
    """The llama.cpp folder whose converter (and llama-quantize, if built) writes GGUF; fetched when missing.

    Raises:
        UserError: LLAMA_CPP_PATH names a folder without the converter, or the sdist cannot be fetched.
    """
    for variable in ("LLAMA_CPP_PATH", "UNSLOTH_LLAMA_CPP_PATH"):
        if os.environ.get(variable):
            folder = Path(os.environ[variable]).expanduser()
            if not (folder / "convert_hf_to_gguf.py").is_file():
                raise UserError(f"{variable}={folder} has no convert_hf_to_gguf.py: point it at a llama.cpp folder "
                                f"(bash benchmarks/llama_cpp_offline.sh makes one), or unset it to fetch the converter")
            return folder
    if (INSTALLED / "convert_hf_to_gguf.py").is_file():
        return INSTALLED
    folder = cache_path(cache_dir, "llama.cpp", LLAMA_CPP_PYTHON)
    fetch_converter(folder)
    return folder


def fetch_converter(folder: Path) -> Path:
    """llama.cpp's converter files from the llama-cpp-python sdist on PyPI into `folder`, once."""
    with file_lock(folder.with_suffix(".lock")):
        if not (folder / "convert_hf_to_gguf.py").is_file():
            write_folder_atomic(folder, _extract_converter)
    return folder


def _extract_converter(staging: Path) -> None:
    requirement = f"llama-cpp-python=={LLAMA_CPP_PYTHON}"
    with downloaded(requirement, source=True) as archive:
        if archive is None:
            raise UserError(f"GGUF export needs llama.cpp's converter, which ships in the {requirement} sdist, and "
                            "pip could not fetch it (offline?): run once with PyPI in reach, or set LLAMA_CPP_PATH to "
                            "a llama.cpp folder (its convert_hf_to_gguf.py, conversion/ and gguf-py/)")
        prefix = f"llama_cpp_python-{LLAMA_CPP_PYTHON}/vendor/llama.cpp/"
        with tarfile.open(archive) as sdist:
            members = [m for m in sdist.getmembers()
                       if m.name.startswith(prefix) and m.name[len(prefix):].split("/")[0] in CONVERTER_FILES]
            for member in members:
                member.name = member.name[len(prefix):]
            sdist.extractall(staging, members=members, filter="data")
    (staging / "SOURCE.txt").write_text(f"llama.cpp's converter from the {requirement} sdist (PyPI), unmodified\n")


def quantizer(llama_cpp: Path) -> Path | None:
    """The built llama-quantize in a llama.cpp folder (benchmarks/llama_cpp_offline.sh puts it at the top)."""
    for candidate in (llama_cpp / "llama-quantize", llama_cpp / "build" / "bin" / "llama-quantize"):
        if candidate.is_file():
            return candidate
    return None


def check_type(quantization: str) -> str:
    """The GGUF type's name as llama.cpp spells it (q8_0, Q4_K_M...), refused early when it is not one."""
    if not re.fullmatch(r"(?i)(f32|f16|bf16|q\d(_[0-9a-z]+)*|iq\d\w*|tq\d_\d)", quantization):
        raise UserError(f"--gguf {quantization} is not a GGUF type: use {', '.join(CONVERTER_TYPES)} (the converter's "
                        "own) or a llama-quantize type such as q4_k_m")
    return quantization.lower()


class GgufTools(NamedTuple):
    """What writing one GGUF type takes, found once (export looks before it loads the model)."""

    qtype: str  # the GGUF type, lower case
    llama_cpp: Path  # the folder with convert_hf_to_gguf.py
    quantize: Path | None  # llama-quantize, for types the converter does not write itself


def tools(quantization: str, cache_dir: str) -> GgufTools:
    """What a GGUF of `quantization` needs, checked: what export looks for before it loads anything.

    Raises:
        UserError: not a GGUF type, no converter to be had, or a type that needs llama-quantize without one.
    """
    qtype = check_type(quantization)
    llama_cpp = llama_cpp_folder(cache_dir)
    quantize = quantizer(llama_cpp)
    if qtype not in CONVERTER_TYPES and quantize is None:
        raise UserError(f"--gguf {qtype} needs llama.cpp's llama-quantize, which {llama_cpp} has not built (the "
                        f"converter alone writes {', '.join(CONVERTER_TYPES)}): bash benchmarks/llama_cpp_offline.sh "
                        "builds it, then LLAMA_CPP_PATH=<that folder>")
    return GgufTools(qtype, llama_cpp, quantize)


def write_gguf(folder: Path, found: GgufTools) -> Path:
    """`<folder>/gguf/model-<type>.gguf` from the safetensors export in `folder`, all or nothing.

    Args:
        found: tools(type, cache_dir).

    Raises:
        UserError: the converter refused the model (the message says why; its whole output is kept
            in `<folder>/gguf.log`).
    """
    qtype, llama_cpp, quantize = found
    done = f"the safetensors export in {folder} is complete"
    log = folder / "gguf.log"

    def write(staging: Path) -> None:
        staging.mkdir(parents=True)
        target = staging / f"model-{qtype}.gguf"
        outtype = qtype if qtype in CONVERTER_TYPES else "f16"  # llama-quantize starts from an f16 file
        converted = staging / f"model-{outtype}.gguf"
        _run([sys.executable, str(llama_cpp / "convert_hf_to_gguf.py"), str(folder), "--outfile", str(converted),
              "--outtype", outtype], log, done)
        if converted != target:
            _run([str(quantize), str(converted), str(target), qtype.upper()], log, done)
            converted.unlink()

    write_folder_atomic(folder / "gguf", write)
    return folder / "gguf" / f"model-{qtype}.gguf"


def _run(command: list[str], log: Path, done: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ {' '.join(command)}\n{result.stdout}{result.stderr}\n")
    if result.returncode != 0:
        raise conversion_error(result.stderr or result.stdout, log, done)


def conversion_error(output: str, log: Path, done: str) -> UserError:
    """What the converter's failure means for the user, in one line; its whole output stays in `log`."""
    if "pre-tokenizer was not recognized" in output:
        return UserError("llama.cpp's converter does not know this model's tokenizer (the embedded tiny model's "
                         "byte-level BPE is not one it lists): GGUF export needs a hub model's tokenizer or a "
                         f"SentencePiece-style one; {done}")
    unsupported = re.search(r"Model (\S+) is not supported", output)
    if unsupported:
        return UserError(f"llama.cpp's converter does not support the architecture {unsupported.group(1)}; {done}")
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    last = lines[-1][:200] if lines else "no output"
    return UserError(f"llama.cpp's converter failed ({last}); its output is in {log}; {done}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fine_tune.gguf_export", description=__doc__.splitlines()[0])
    parser.add_argument("--fetch", type=Path, required=True, metavar="FOLDER",
                        help=f"put llama.cpp's converter (from the llama-cpp-python {LLAMA_CPP_PYTHON} sdist) in FOLDER")
    args = parser.parse_args(argv)
    print(exit_on_error("fine_tune.gguf_export", lambda: fetch_converter(args.fetch.resolve())))


if __name__ == "__main__":
    main()
