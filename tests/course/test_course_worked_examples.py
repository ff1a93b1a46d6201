"""examples/course_worked_examples.py prints every deck's worked numbers next to tinyconv's, quickly."""
import importlib.util
import os
import time

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples",
                       "course_worked_examples.py")


def load_example():
    spec = importlib.util.spec_from_file_location("example_course_worked_examples", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_worked_number_agrees_or_says_why(capsys):
    example = load_example()
    started = time.process_time()  # CPU time: the machine's other work does not count
    rows = example.main([])
    assert time.process_time() - started < 30
    assert {row.deck for row in rows} == set(example.DECKS)
    assert len(rows) >= 45
    # The only disagreements are the ones the decks themselves explain away: AlexNet's 253,440 (the paper's slip),
    # stride 3 on 7x7 (2.33 is not a size), pooling's ceiling (Keras floors) and GoogLeNet's ~5M (7.0M counted).
    differing = sorted((row.deck, row.quantity) for row in rows if row.status == example.DIFFERS)
    assert differing == [("ce40717", "7x7, 2x2 pool, stride 2: ceil((N - P)/S) + 1"),
                         ("ce40717", "7x7, 3x3 filter, stride 3"), ("cis5190", "GoogLeNet parameters"),
                         ("dl1", "neurons per layer")]
    assert all(row.note for row in rows if row.status != example.SAME)
    out = capsys.readouterr().out
    assert "267,960" in out and "[[12 12 17] [10 17 19] [ 9  6 14]]" in out and "differ for the reasons noted" in out


def test_one_deck_without_the_large_models(capsys):
    rows = load_example().main(["--deck", "cis5190", "--no-large-models"])
    assert {row.deck for row in rows} == {"cis5190"}
    assert not any("parameters" in row.quantity for row in rows)
    assert "Cartesian axes" in capsys.readouterr().out
