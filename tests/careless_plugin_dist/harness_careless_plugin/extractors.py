"""Extractors that break their contract: one without `prompt`, one whose `extract` returns a dict."""

from __future__ import annotations

import harness


class NoPromptExtractor:
    name = "no_prompt_extractor"
    stop = ("\n",)

    def extract(self, generation):  # type: ignore[no-untyped-def]
        raise AssertionError("never called")


class DictExtractor:
    name = "dict_extractor"
    stop = ("\n",)

    def prompt(self, example):  # type: ignore[no-untyped-def]
        return example.question

    def extract(self, generation):  # type: ignore[no-untyped-def]
        return {"answer": generation.text.strip(), "confidence": 0.5}


@harness.hookimpl
def register_extractors(register):  # type: ignore[no-untyped-def]
    register("no_prompt_extractor", NoPromptExtractor)
    register("dict_extractor", DictExtractor)
