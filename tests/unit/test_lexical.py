from __future__ import annotations

from assistant import lexical


def test_fold_strips_accents_and_case() -> None:
    assert lexical.fold("Références Straße Féierschäin") == "references strasse feierschain"


def test_document_and_query_share_stems_across_word_forms() -> None:
    doc = lexical.document_vector("Vous devez échanger votre permis de conduire.", "fr")
    query = lexical.query_vector("échange du permis")
    assert set(doc.indices) & set(query.indices)


def test_stop_words_carry_no_signal() -> None:
    assert lexical.query_vector("le la les de des the of der die das").indices == ()


def test_luxembourgish_terms_are_expanded_to_french_and_german() -> None:
    expanded = lexical.expand_query("Wéi kann ech mäi Féierschäin ëmtauschen?")
    assert "permis de conduire" in expanded and "Führerschein" in expanded


def test_text_without_known_terms_is_left_alone() -> None:
    assert lexical.expand_query("What colour is the sky?") == "What colour is the sky?"


def test_document_weights_saturate_with_term_frequency() -> None:
    once = lexical.document_vector("commune", "fr")
    many = lexical.document_vector("commune " * 20, "fr")
    assert max(many.values) > max(once.values)
    assert max(many.values) < 20 * max(once.values)
