"""The import contract `make lint` checks (pyproject.toml's [tool.importlinter]) finds what it is there for."""

import grimp

from tests.import_contracts import AcyclicModulesContract, strongly_connected


def _graph(*imports: tuple[str, str]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for module in ("app", "app.a", "app.b", "app.c", "app.d"):
        graph.add_module(module)
    for importer, imported in imports:
        graph.add_import(importer=importer, imported=imported)
    return graph


def _check(graph: grimp.ImportGraph) -> tuple[bool, list[list[str]]]:
    contract = AcyclicModulesContract(name="no cycles", session_options={}, contract_options={"package": "app"})
    check = contract.check(graph, verbose=False)
    return check.kept, check.metadata["chains"]


def test_a_cycle_through_three_modules_breaks_the_contract_and_is_named() -> None:
    kept, chains = _check(_graph(("app.a", "app.b"), ("app.b", "app.c"), ("app.c", "app.a"), ("app.d", "app.a")))
    assert not kept
    assert chains == [["app.a", "app.b", "app.c", "app.a"]]


def test_layers_without_a_cycle_keep_it() -> None:
    kept, chains = _check(_graph(("app.a", "app.b"), ("app.b", "app.c"), ("app.a", "app.c"), ("app.d", "app.a")))
    assert kept and chains == []


def test_components_are_found_however_deep_the_graph() -> None:
    chain = {f"m{n}": [f"m{n + 1}"] for n in range(5000)}
    chain["m5000"] = ["m0"]
    assert [len(component) for component in strongly_connected(chain)] == [5001]
    chain["m5000"] = []
    assert all(len(component) == 1 for component in strongly_connected(chain))
