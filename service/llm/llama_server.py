"""The embedded model server: llama-cpp-python's OpenAI-compatible server, with a faster
grammar sampler for greedy decoding.

llama-cpp-python applies a JSON-schema grammar to every token of the vocabulary (152k for
Qwen2.5) before each greedy pick: most of the time per output token on a small CPU. llama.cpp's
own server does it the other way round, and so does this one: take the best token, check only
that token against the grammar, and filter the whole vocabulary only when it is rejected. The
pick is the same (the best token the grammar allows), so the output is identical; only the
work differs. `bench/embedded.py` measures both and checks that the answers match.

Run as `python -m healthcoop.llm.llama_server` with llama_cpp.server's arguments, plus
`--whole-vocab-grammar` to keep llama-cpp-python's own sampler (for comparison); this module is
only imported where the `embedded` extra is installed.
"""

from __future__ import annotations

import ctypes
import math
import sys
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import _internals
from llama_cpp import llama as llama_module

from .embedded import WHOLE_VOCAB_FLAG

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
assert _TOKEN_DATA.itemsize == ctypes.sizeof(llama_cpp.llama_token_data)


class GrammarFirstCheck:
    """A sampler (for a chain that ends in greedy) that leaves the candidates alone when the
    best one is grammatical, and applies the grammar to all of them otherwise."""

    def __init__(self, vocab: Any, grammar: llama_cpp.LlamaGrammar) -> None:
        self.grammar = llama_cpp.llama_sampler_init_grammar(
            vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
        )
        if not self.grammar:
            raise ValueError("llama.cpp could not parse the grammar")
        self._one = llama_cpp.llama_token_data()
        self._single = llama_cpp.llama_token_data_array(
            data=ctypes.pointer(self._one), size=1, selected=-1, sorted=False
        )
        iface = llama_cpp.llama_sampler_i()
        # keep the callbacks referenced: ctypes does not
        self._callbacks = (
            llama_cpp.llama_sampler_i_apply(self._apply),
            llama_cpp.llama_sampler_i_accept(self._accept),
            llama_cpp.llama_sampler_i_reset(self._reset),
        )
        iface.apply, iface.accept, iface.reset = self._callbacks
        self._iface = iface
        self.sampler = llama_cpp.llama_sampler(iface=ctypes.pointer(iface), ctx=None)

    def _apply(self, _smpl: Any, cur_p: Any) -> None:
        arr = cur_p.contents
        data = np.ctypeslib.as_array(
            (ctypes.c_char * (arr.size * _TOKEN_DATA.itemsize)).from_address(
                ctypes.addressof(arr.data.contents)
            )
        ).view(_TOKEN_DATA)
        best = int(data["logit"].argmax())
        self._one.id = int(data["id"][best])
        self._one.logit = float(data["logit"][best])
        self._single.size, self._single.selected = 1, -1
        llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(self._single))
        if math.isinf(self._one.logit) and self._one.logit < 0:
            llama_cpp.llama_sampler_apply(self.grammar, cur_p)

    def _accept(self, _smpl: Any, token: int) -> None:
        llama_cpp.llama_sampler_accept(self.grammar, token)

    def _reset(self, _smpl: Any) -> None:
        llama_cpp.llama_sampler_reset(self.grammar)

    def __del__(self) -> None:
        if getattr(self, "grammar", None):
            llama_cpp.llama_sampler_free(self.grammar)
            self.grammar = None


def _fast_sampler(llm: llama_module.Llama, kwargs: dict[str, Any]) -> _internals.LlamaSampler:
    chain = _internals.LlamaSampler()
    chain.add_penalties(
        n_vocab=llm._n_vocab,
        penalty_last_n=llm.last_n_tokens_size,
        penalty_repeat=kwargs.get("repeat_penalty", 1.0),
        penalty_freq=kwargs.get("frequency_penalty", 0.0),
        penalty_present=kwargs.get("presence_penalty", 0.0),
    )
    check = GrammarFirstCheck(llm._model.vocab, kwargs["grammar"])
    llama_cpp.llama_sampler_chain_add(chain.sampler, ctypes.pointer(check.sampler))
    # the chain must not free a sampler it does not own (see LlamaSampler.add_custom)
    chain.custom_samplers.append((llama_cpp.llama_sampler_chain_n(chain.sampler) - 1, check))
    chain.add_greedy()
    return chain


def install() -> None:
    """Use the grammar-first check for greedy, grammar-constrained sampling."""
    original = llama_module.Llama._init_sampler

    def _init_sampler(self: llama_module.Llama, **kwargs: Any) -> _internals.LlamaSampler:
        if (
            kwargs.get("grammar") is not None
            and kwargs.get("temp") == 0.0
            and kwargs.get("logits_processor") is None
            and not kwargs.get("mirostat_mode")
        ):
            return _fast_sampler(self, kwargs)
        return original(self, **kwargs)

    llama_module.Llama._init_sampler = _init_sampler  # type: ignore[method-assign]


def main() -> None:
    if WHOLE_VOCAB_FLAG in sys.argv:
        sys.argv.remove(WHOLE_VOCAB_FLAG)
    else:
        install()
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
