"""OR-Tools model of an :class:`~tracker.routing.instance.Instance` and its search.

1. Register the arc costs, travel+service times and demands as matrices and
   vectors on the C++ side (``RegisterTransitMatrix`` /
   ``RegisterUnaryTransitVector``), never as Python callbacks, which the
   search calls millions of times. Measured: the same search (parallel
   cheapest insertion, then descent to the same local optimum) takes 0.15 s
   with registered matrices and 0.85 s with Python callbacks on Solomon R211
   (0.16 s and 0.73 s on RC105).
2. Add one capacity dimension per demand row and a time dimension whose cumul
   is the start of service at a node (slack = waiting), bounded by the visit
   windows and the vehicle shifts.
3. Make every visit optional (a disjunction with its penalty) so a stop that
   cannot fit is left out instead of failing the whole plan; this also lets the
   first-solution heuristic succeed on tight instances where "serve all" finds
   nothing (R101, RC105 with PATH_CHEAPEST_ARC).
4. Search with a first-solution heuristic, then a metaheuristic, under a time
   limit that always exists.

Which search? Measured on the 16 Solomon instances in ``shared/benchmarks``,
10 s each, one run per line unless two are given (``scripts/bench_routing.py
--time-limit 10 [--first-solution X] [--metaheuristic Y] [--ils] [--option
k=v]``), 2-core machine shared with other work, every answer feasible. Mean
gap to the distance-only best known solutions; run-to-run noise is about
+-0.4 points:

=============================  ==========================================  ============
first solution                 local search                                mean gap %
=============================  ==========================================  ============
PARALLEL_CHEAPEST_INSERTION    GUIDED_LOCAL_SEARCH                         2.11
PATH_CHEAPEST_ARC              GUIDED_LOCAL_SEARCH                         2.50
SAVINGS                        GUIDED_LOCAL_SEARCH                         4.11
LOCAL_CHEAPEST_INSERTION       GUIDED_LOCAL_SEARCH                         4.20
PARALLEL_CHEAPEST_INSERTION    TABU_SEARCH                                 3.57
PARALLEL_CHEAPEST_INSERTION    SIMULATED_ANNEALING                         8.45
PARALLEL_CHEAPEST_INSERTION    GLS, lambda 0.2 / 0.05                      2.68 / 3.41
PARALLEL_CHEAPEST_INSERTION    GLS, multi-armed-bandit operator order      2.84
PARALLEL_CHEAPEST_INSERTION    GLS, lean operators                         3.25
PARALLEL_CHEAPEST_INSERTION    ILS (SISR ruin 10, descent after recreate)  1.68, 2.20
PARALLEL_CHEAPEST_INSERTION    ILS, ruin 15                                1.64
PATH_CHEAPEST_ARC              ILS                                         2.29
PARALLEL_CHEAPEST_INSERTION    ILS, operators on 20% nearest neighbours    14.64
PARALLEL_CHEAPEST_INSERTION    ILS, lean operators                         1.15, 1.83
PARALLEL_CHEAPEST_INSERTION    ILS, lean operators, ruin 15                1.26
SAVINGS                        ILS, lean operators, ruin 15 (default)      1.27
=============================  ==========================================  ============

With ILS the first solution hardly matters at 100 customers, but it does at
1,000 (Gehring & Homberger R1_10_1, 60 s): the descent from the first
solution takes most of the minute, and SAVINGS starts far closer (gap 19.1%
after 60 s) than PARALLEL_CHEAPEST_INSERTION (28.2%) or PATH_CHEAPEST_ARC
(41.1%); GLS from PARALLEL_CHEAPEST_INSERTION reached 21.0% there and
overran its limit by 18 s on C1_10_1. Restricting operators to the nearest
5% of neighbours stalled completely (no accepted move in 60 s).

So the default is SAVINGS, then OR-Tools' iterated local search: SISR string
removals (about 15 visits), cheapest-insertion recreate, a descent with the
lean operator set, simulated-annealing acceptance. The large-neighbourhood
operators that GLS needs are dead weight inside ILS, whose ruin-and-recreate
already is one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from tracker.routing.errors import RoutingSolverError
from tracker.routing.instance import Instance

__all__ = ["DEFAULT_SEARCH", "EngineSolution", "SearchOptions", "solve_instance"]

_FIRST = routing_enums_pb2.FirstSolutionStrategy
_META = routing_enums_pb2.LocalSearchMetaheuristic
_BOOL_FALSE = optional_boolean_pb2.BOOL_FALSE
_LEAN_OFF = (
    "use_relocate_pair",
    "use_light_relocate_pair",
    "use_exchange_pair",
    "use_relocate_subtrip",
    "use_exchange_subtrip",
    "use_lin_kernighan",
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
    "use_shortest_path_swap_active",
    "use_shortest_path_two_opt",
    "use_swap_active_chain",
    "use_make_chain_inactive",
)
_STATUS = {
    0: "not_solved",
    1: "success",
    2: "partial_success",
    3: "fail",
    4: "fail_timeout",
    5: "invalid",
    6: "infeasible",
    7: "optimal",
}


@dataclass(frozen=True)
class SearchOptions:
    """How the engine searches. Names are OR-Tools enum names."""

    first_solution: str = "SAVINGS"
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    # OR-Tools' iterated local search: ruin (SISR string removals) and
    # recreate, accepted by simulated annealing; replaces the metaheuristic.
    iterated_local_search: bool = True
    ruin_visits: int = 15  # SISR: average visits removed per ruin
    improve_perturbed: bool = True  # local search after each recreate
    guided_local_search_lambda: float = 0.1
    # Local-search operators look at this share of each node's nearest
    # neighbours (at least ls_min_neighbors); 1.0 = all of them.
    ls_neighbors_ratio: float = 1.0
    ls_min_neighbors: int = 1
    multi_armed_bandit: bool = False  # learn which operators pay off
    # Switch off the operators this model cannot use (pickup-and-delivery
    # pairs) and the slow large-neighbourhood ones, so each descent is quicker.
    lean_operators: bool = True
    log_search: bool = False

    def __post_init__(self) -> None:
        if self.first_solution not in _FIRST.Value.keys():  # noqa: SIM118 (not a dict)
            raise ValueError(f"unknown first-solution strategy {self.first_solution!r}")
        if self.metaheuristic not in _META.Value.keys():  # noqa: SIM118 (not a dict)
            raise ValueError(f"unknown metaheuristic {self.metaheuristic!r}")


DEFAULT_SEARCH = SearchOptions()


@dataclass
class EngineSolution:
    """Routes as node sequences (terminals excluded), one list per vehicle."""

    routes: list[list[int]]
    dropped: list[int]
    objective: int
    status: str
    seconds: float
    stats: dict[str, float] = field(default_factory=dict)


def _search_parameters(options: SearchOptions, seconds: float) -> pywrapcp.DefaultRoutingSearchParameters:
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = _FIRST.Value.Value(options.first_solution)
    if options.iterated_local_search:
        params.use_iterated_local_search = True
        ils = params.iterated_local_search_parameters
        ils.improve_perturbed_solution = options.improve_perturbed
        # OR-Tools ships no default ruin; SISR (Christiaens & Vanden Berghe
        # 2020) with the paper's string length and bypass factor.
        sisr = ils.ruin_recreate_parameters.ruin_strategies.add().sisr
        sisr.avg_num_removed_visits = options.ruin_visits
        sisr.max_removed_sequence_size = 10
        sisr.bypass_factor = 0.01
        # Temperatures in the instance's own cost units (a fraction of the
        # mean arc), not the fixed 100 -> 0.01 that suits no unit in particular.
        annealing = ils.reference_solution_acceptance_strategy.simulated_annealing
        annealing.automatic_temperatures = True
    else:
        params.local_search_metaheuristic = _META.Value.Value(options.metaheuristic)
    params.guided_local_search_lambda_coefficient = options.guided_local_search_lambda
    params.ls_operator_neighbors_ratio = options.ls_neighbors_ratio
    params.ls_operator_min_neighbors = options.ls_min_neighbors
    params.use_multi_armed_bandit_concatenate_operators = options.multi_armed_bandit
    if options.lean_operators:
        for name in _LEAN_OFF:
            setattr(params.local_search_operators, name, _BOOL_FALSE)
    # Always bounded: GLS and friends never stop on their own.
    params.time_limit.FromMilliseconds(max(1, int(seconds * 1000)))
    params.log_search = options.log_search
    return params


def _build_model(
    inst: Instance,
) -> tuple[pywrapcp.RoutingIndexManager, pywrapcp.RoutingModel]:
    manager = pywrapcp.RoutingIndexManager(
        inst.num_nodes,
        inst.num_vehicles,
        inst.vehicle_start.tolist(),
        inst.vehicle_end.tolist(),
    )
    model = pywrapcp.RoutingModel(manager)

    arc_cost = model.RegisterTransitMatrix(inst.distance.tolist())
    model.SetArcCostEvaluatorOfAllVehicles(arc_cost)

    for dim, (row, capacities) in enumerate(zip(inst.demand, inst.capacity, strict=True)):
        demand = model.RegisterUnaryTransitVector(row.tolist())
        model.AddDimensionWithVehicleCapacity(demand, 0, capacities.tolist(), True, f"load{dim}")

    # Service happens at the node being left, so it rides on the outgoing arc.
    horizon = inst.horizon
    transit = inst.duration + inst.service[:, None]
    time_index = model.RegisterTransitMatrix(transit.tolist())
    model.AddDimension(time_index, horizon, horizon, False, "time")
    time_dim = model.GetDimensionOrDie("time")
    for node in inst.visits:
        index = manager.NodeToIndex(node)
        start = int(max(inst.window_start[node], 0))
        end = int(min(inst.window_end[node], horizon))
        if start > end:
            # Unreachable in any plan; keep the model valid and let the
            # penalty decide (the caller explains why it was left out).
            model.AddDisjunction([index], int(inst.penalty[node]))
            model.ActiveVar(index).SetValue(0)
            continue
        time_dim.CumulVar(index).SetRange(start, end)
        model.AddDisjunction([index], int(inst.penalty[node]))

    for vehicle in range(inst.num_vehicles):
        shift = (int(inst.shift_start[vehicle]), int(inst.shift_end[vehicle]))
        time_dim.CumulVar(model.Start(vehicle)).SetRange(*shift)
        time_dim.CumulVar(model.End(vehicle)).SetRange(*shift)
        if inst.fixed_cost[vehicle]:
            model.SetFixedCostOfVehicle(int(inst.fixed_cost[vehicle]), vehicle)
    return manager, model


def solve_instance(
    inst: Instance,
    *,
    time_limit: float,
    options: SearchOptions = DEFAULT_SEARCH,
) -> EngineSolution:
    """Solve ``inst`` within ``time_limit`` seconds, model building included.

    Raises :class:`RoutingSolverError` when no solution exists (only
    possible when some vehicle cannot even drive from its start to its end
    within its shift).
    """
    started = time.perf_counter()
    manager, model = _build_model(inst)
    built = time.perf_counter() - started
    # The search gets what building left (0.13 s for 1,000 visits), but never
    # less than a tenth of the limit, so a tiny limit still finds something.
    remaining = max(time_limit - built, 0.1 * time_limit)
    params = _search_parameters(options, remaining)

    if options.iterated_local_search:
        # SolveWithParameters ignores use_iterated_local_search.
        solution = model.SolveWithIteratedLocalSearch(params)
    else:
        solution = model.SolveWithParameters(params)
    status = _STATUS.get(model.status(), str(model.status()))
    if solution is None:
        raise RoutingSolverError(f"no solution found (solver status: {status})")

    routes: list[list[int]] = []
    served: set[int] = set()
    for vehicle in range(inst.num_vehicles):
        route = []
        index = solution.Value(model.NextVar(model.Start(vehicle)))
        while not model.IsEnd(index):
            route.append(manager.IndexToNode(index))
            index = solution.Value(model.NextVar(index))
        routes.append(route)
        served.update(route)
    dropped = [node for node in inst.visits if node not in served]
    return EngineSolution(
        routes=routes,
        dropped=dropped,
        objective=solution.ObjectiveValue(),
        status=status,
        seconds=time.perf_counter() - started,
        stats={"build_seconds": built},
    )
