"""An import-linter contract type the built-in ones lack: no import cycle between the modules of a package.

`acyclic_siblings` compares packages as wholes, so a domain package whose endpoints import the apply pipeline
while the pipeline imports its service would count as a cycle; what must never happen is a cycle between
modules, counting imports under `if TYPE_CHECKING:` and inside functions (grimp sees both), since those hide
a circle rather than remove it. Registered in pyproject.toml's `[tool.importlinter]`; `make lint` runs it."""

import grimp
from importlinter import Contract, ContractCheck, fields, output


class AcyclicModulesContract(Contract):
    type_name = "acyclic_modules"

    package = fields.StringField()

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        package = str(self.package)
        modules = {package} | set(graph.find_descendants(package))
        edges = {
            module: sorted(graph.find_modules_directly_imported_by(module) & modules) for module in sorted(modules)
        }
        cycles = [sorted(component) for component in strongly_connected(edges) if len(component) > 1]
        chains = [_a_cycle(edges, component) for component in cycles]
        return ContractCheck(kept=not cycles, metadata={"chains": chains})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for chain in check.metadata["chains"]:
            output.print_error(" -> ".join(chain), bold=False)
            output.new_line()


def strongly_connected(edges: dict[str, list[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative: the strongly connected components of a directed graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    for root in edges:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            successors = edges.get(node, [])
            if position < len(successors):
                work.append((node, position + 1))
                child = successors[position]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _a_cycle(edges: dict[str, list[str]], component: list[str]) -> list[str]:
    """One cycle through the component's first module, for the message: a breadth-first search back to it."""
    start = component[0]
    members = set(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for child in edges[node]:
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if child in members and child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    return component
