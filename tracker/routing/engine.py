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
SAVINGS                        ILS, lean operators, ruin 15 (old default)  1.27
=============================  ==========================================  ============

With ILS the first solution hardly matters at 100 customers, but it does at
1,000. There, three things decide the result (Gehring & Homberger, 60 s,
``--instances tests/data/benchmarks/homberger-1000/type1`` and ``type2``;
2-core machine shared with other work, load 3-11, so a solve got a third to
two thirds of a core; every answer feasible):

* **Fast checks and no trail compression.** OR-Tools re-checks every
  accepted move with the full constraint solver and zlib-compresses its undo
  trail; at 1,000 visits and 250 vehicles each accepted move cost ~170 ms,
  and a greedy descent from SAVINGS made 57 moves in 20 s (gap 83% on
  R2_10_2). Without compression: 157 moves; checking every 100th move
  (``check_solution_period``; the routing filters already judge windows,
  loads and shifts exactly) reaches the local optimum in 17 s (gap 16%).
* **Parallel cheapest insertion.** It starts with far fewer routes than
  SAVINGS on long routes (R2_10_2: 24 against 51; the best known has 32) and
  ends lower (gap 14.8% against 16.3% at 30 s); LOCAL_CHEAPEST_INSERTION
  29.1%. **Fleet trimming** (``fleet_slack``) then searches with the vehicles
  the first solution used plus 15%: idle vehicles are not free, each adds two
  terminal nodes every operator walks (C2_10_2: 11.5% against 30.1% in one
  pair of runs).
* **Sectors** for short routes (type 1, ~10 visits a route): sweep the
  customers by angle, solve sectors of 200 with ILS, then re-solve groups of
  neighbouring routes from their current routes (POPMUSIC), with borders
  moving by half a group each pass. Type 1 mean gap 6.2% against 9.3%
  without sectors. For long routes (type 2) sectors of 200 cut most routes
  and left 1.2x the vehicles, and sectors sized to hold 8 routes did worse
  than one whole solve (14.5% against 12.6%), so sectors apply only when
  one of 200 visits holds 8 full routes.

In two paired runs (same minutes, same load), previous default against this
one, mean gap (vehicles / best known's): type 1 28.7% (1.12-1.23x) against
6.2% (1.02-1.10x); type 2 92.9% (1.59-1.93x) against 15.5% (0.75-1.08x),
and in an earlier pair 76.7% against 12.6%. Solomon at 10 s, three pairs:
2.23 / 1.73, 1.53 / 1.88, 2.30 / 2.54 (the same code can differ by 0.5
between runs on this machine).

After the first local optimum, OR-Tools' ILS adds little at 1,000 visits
(each iteration re-proves a local optimum over a million neighbours); GLS
from the same point found nothing in 13 s. Tried and dropped: operators on
the 3% or 10% nearest neighbours (computing the lists took 11 s, then one
move in 9 s), a fixed cost per vehicle (3,000 or 10,000: 47-50 vehicles
either way from SAVINGS), recreate without a descent (R2_10_2 29.8% against
15.7%), sectors of 100 or 300 visits (no better than 200), re-solving route
groups from scratch instead of from their routes (fewer accepted moves).

**Warm start from the trimming solution** (``trim_warm_above``): OR-Tools'
iterated local search always builds its own first solution, so a trimmed
1,000-visit search built parallel cheapest insertion twice, the second time
the same routes (R2_10_2: 2.3 and 1.9 s of CPU, both 60,246). From 500
visits the trimmed search now starts from the trimming solution's routes
with guided local search (``ApplyLocksToAllVehicles`` does not do it: the
locks come back in every recreate, and ILS returned its first solution).
Type 2 at 60 s, four paired runs (``--option trim_warm_above=none``
against the default, side by side): mean gap 15.46% against 13.33% (C2
15.67/11.48, R2 17.93/15.71, RC2 12.79/12.79) and 21.02 / 18.14% at load
14-15 (a solve got well under a quarter of a core), 14.63 / 13.53% at load
4-5 and 26.67 / 20.18% at load 4-7; the first solution arrives in about
half the time, vehicles unchanged. Where the search gets past its first
local optimum it can lose: at load 4-5 C2_10_2 ended at 9.88% (guided local
search found nothing after 31 s) against 7.29% (iterated local search still
improving at 59 s), so on an idle core the old order may again be better. Type 1 (sectors of 200; only
the sectors trim) and Solomon are below 500 visits a solve, so unchanged. Tried beside it:
parallel cheapest insertion on the 5% nearest neighbours (at least 20)
starts shorter (R2_10_2 53,697 against 60,246) and ended at 16.7% against
18.1%, but with more vehicles (RC2_10_2 1.32x the best known's, C2 1.17x);
operators on the 5% nearest neighbours 80.0% against 59.7% (4 runs side by
side, load 15-20); also switching off make_active, make_inactive,
swap_active, cross and relocate_expensive_chain 59.3% against 59.7% (noise);
from the trimming solution, a full check every 10 or 25 moves instead of
100 23.9 / 21.7% against 21.4%; guided local search lambda 0.2 or 0.3,
tabu search, fleet slack 0.3: the same answers as the default (the search
was still in its first descent at 60 s).

So the default: PARALLEL_CHEAPEST_INSERTION, checks every 100 moves, the
fleet trimmed (from 500 visits, then guided local search from the trimming
solution), else OR-Tools' iterated local search: SISR string removals
(about 15 visits), cheapest-insertion recreate, a descent with the lean
operator set, simulated-annealing acceptance (the large-neighbourhood
operators GLS needs are dead weight inside ILS, whose ruin-and-recreate
already is one); sectors above 500 visits when routes are short and the
instance has coordinates (the literature readers give them; the service's
plans do not); when routes are long, a whole solve for 0.3 of the time
after its first solution, then groups of its routes re-solved
(``regroup_whole_share``; type 2 at 60 s: 11.45 -> 10.00%), and with two
workers a second whole solve beside it from a load-capped first solution,
the shorter of the two regrouped (``whole_alternative_load_share``: 9.75 ->
8.13 / 8.35 / 8.09%). A sector's
first solve recreates without the descent
(``sector_improve_perturbed``): on 200 visits, more and cheaper ruin and
recreate iterations beat fewer full descents. Type 1 at 60 s on the quiet
2-core machine, the two side by side (a core each): mean gap 5.44 -> 5.24%
and 5.46 -> 5.25% in two pairs (R1 7.17 -> 6.86% and 7.45 -> 7.21%, RC1
9.06 -> 8.56% and 8.83 -> 8.23%, C1 0.10 -> 0.30% both times), R1 and RC1
alone three runs each 8.32 / 7.97 / 7.86% against 7.19 / 7.46 / 7.62%;
vehicles 1.02-1.09x -> 1.02-1.07x. Regrouping from scratch without the
descent did worse (8.65 / 8.88%), so regrouping keeps it; ruins of 8 or 25
visits instead of 15 were within the noise.

**Workers.** ``workers`` solves sectors (and groups of routes) in that many
forked processes at once. It was ``threads``, but OR-Tools' Python wrapper
holds the GIL while it searches: R1_10_1 for 20 s with two threads took
20.5 s of CPU (one core), with two processes 34.6 s. Type 1 at 60 s on the
quiet 2-core machine, one instance at a time, three runs each: one worker
4.93 / 5.12 / 5.09% (median 5.09), two workers 5.01 / 4.47 / 4.40% (median
4.47; R1 7.30 / 5.85 / 6.17%, RC1 7.62 / 7.46 / 6.93%, C1 0.10%), vehicles
1.02-1.08x the best known's, every answer feasible; a fourth pair, one
after the other: 4.91 and 4.86% (R1 at 1.105x the vehicles). A sector share of 0.25
or 0.6 instead of 0.4 (one worker, one run each): 5.09 and 5.71%.

**Regrouping from scratch.** Regrouping improved each group of routes
from its current routes with guided local search, which at about 200
visits does worse than a fresh iterated local search (the table above, at
100). On one R2_10_2 group of 5 routes and 237 visits, 8 s each: from
87,496, guided local search from the routes 84,891, iterated local search
from scratch 79,885 (with 6 routes); two more groups alike (78,934: 78,666
against 77,713; 75,031: 72,784 against 71,893). With the whole fleet, the
searches from scratch open routes and the plans ended with more vehicles
(RC2_10_2 28, 1.12x the best known's 25), so a group from scratch gets as
many vehicles as it has routes (``regroup_extra_routes`` 0): regrouping
never adds a route. Type 2 at 60 s, two workers, the 2-core machine quiet,
one session: guided from the routes (the old default) 8.03%; from scratch
6.18, 6.77 and 6.61% (C2 5.21-5.24, R2 6.24-8.02, RC2 7.08%; vehicles
0.84-1.08x the best known's, R2 ending on 27-29 routes of a 33-route whole
solve). Tried beside it, one run each: the whole fleet 8.04%, or judged at a
quarter or half a round trip a route 6.52 and 7.27% (RC2 1.12x); one extra
route a group, at half a round trip a route, 6.49% (RC2 1.12x); no route
cost in the judging 6.42 and 6.58%, and with it groups of 170 or 250 visits
6.37 and 6.15%, a group time share (``sector_share``) of 0.25 or 0.6 6.42
and 6.85%, a whole share of 0.15 or 0.45 7.24 and 6.70%: within the noise
or worse. Type 1 regroups its sectors the same way: 4.63% guided, 4.24%
from scratch in the same session. (An early engine had found groups from
scratch worse, above; today's runs reverse that.)

**Regrouping by ruin and recreate** (``regroup_search="ruin"``, the
default). From scratch, a group spends its first seconds getting back to
the routes it was given, and OR-Tools' iterated local search cannot start
from them: it always builds its own first solution (a first-solution hint
is reported as a solution, then the search goes on from its own), and
``SolveFromAssignmentWithParameters`` with iterated local search set only
runs one descent. So :func:`_ruin_and_recreate` runs that loop in Python
from the group's routes, with as many vehicles as it has routes: SISR-like
strings removed around a random visit, each visit put back where it adds
least within windows and loads (:class:`_Insertion`, numpy over a route's
positions), OR-Tools' descent (unchecked, then checked in Python) on every
25th plan, and threshold acceptance (a plan is taken when it costs less
than the current one plus 1% of the best, the 1% falling to 0 over the
group's time). On three R2_10_2 groups of 202-242 visits cut from a 20 s
whole solve, 8 s each, the sum of the three changes against their
routes: from scratch -5.1% and -5.0% (one group ended worse than it
started); the same loop with OR-Tools' descent after every step (4-6
steps a second) -6.6 to -8.6%; put back in Python without a descent
(about 420 steps a second) -7.9 to -10.3%; with the descent on every 10th
or 25th step -11.2 to -12.8%. A pass of groups now takes ``regroup_share``
(0.2) of the limit rather than the sectors' 0.4: warm groups lose nothing
to a shorter time, and more passes move more borders. Type 2 at 60 s, two
workers, one session (2026-12-05, ``python -m timeit`` 44.2 ns, every
answer feasible): from scratch 6.60%; OR-Tools' descent after every step,
8 s a group, 4.57-5.57% in eight runs of different settings; put back in
Python with the descent every 25th step, 8 s a group, 3.42%; the default
(4 s a group) 2.92, 2.56 and 3.07% (vehicles 0.938-1.08x the best
known's). Type 1 3.84% (4.24% from scratch the session before).

``stall_seconds`` stops a search that stopped improving: OR-Tools' ILS only
stops at its time limit, so with it the metaheuristic (GLS) searches
instead, and the sectors stop after a pass without gain.
"""

from __future__ import annotations

import ctypes
import math
import multiprocessing
import random
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2, solver_parameters_pb2
from ortools.util import optional_boolean_pb2

from tracker.routing.errors import RoutingSolverError
from tracker.routing.instance import Instance

R = TypeVar("R")

__all__ = ["DEFAULT_SEARCH", "EngineSolution", "SearchOptions", "solve_instance"]

_FIRST = routing_enums_pb2.FirstSolutionStrategy
_META = routing_enums_pb2.LocalSearchMetaheuristic
_BOOL_FALSE = optional_boolean_pb2.BOOL_FALSE
_NO_COMPRESSION = solver_parameters_pb2.ConstraintSolverParameters.NO_COMPRESSION
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
_REGROUP_SEARCHES = ("ruin", "scratch", "guided")
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

    first_solution: str = "PARALLEL_CHEAPEST_INSERTION"
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
    # "Fast local search": the constraint solver re-checks an accepted move
    # only every this many moves; the routing filters (capacities, windows,
    # shifts) already judged it exactly. 1 = check every move (OR-Tools'
    # default, 5-20x slower per move at 1,000 visits). None: 100 from
    # trim_above visits up, 1 below, where moves are cheap anyway.
    check_solution_period: int | None = None
    # OR-Tools zlib-compresses its undo trail by default: memory for speed.
    compress_trail: bool = False
    # Stop when the best objective has not improved for this many seconds
    # (None: run to the time limit). OR-Tools' iterated local search only
    # stops at its time limit, so with a stall limit the engine searches
    # with the metaheuristic (guided local search) instead, which stops.
    stall_seconds: float | None = None
    # Route-minimising phase: a cost per used vehicle of this many times the
    # instance's mean depot round trip, during the search only (the reported
    # objective is the plan's own). 0 = off.
    vehicle_cost_round_trips: float = 0.0
    # Fleet trimming: build a first solution with the whole fleet, then
    # search with only the vehicles it used plus this share more (and one).
    # Idle vehicles are not free in OR-Tools: every one adds two terminal
    # nodes that each local-search operator walks. None = the whole fleet.
    fleet_slack: float | None = 0.15
    # ... for instances with at least this many visits: at 100 the search is
    # quick anyway, and a distance-only optimum may want more vehicles than a
    # first solution used (Solomon RC201: 3.3% with 7 vehicles, 1.4% with 8-9).
    trim_above: int = 500
    # Start the trimmed search from the trimming solution (guided local
    # search from its routes) instead of a second, identical first solution
    # (OR-Tools' iterated local search always builds its own), for instances
    # with at least this many visits. None = never.
    trim_warm_above: int | None = 500
    # Sectors: an instance with at least this many visits (and coordinates,
    # one depot, identical vehicles, sector_routes full routes in a sector)
    # is cut into sectors of about sector_visits around the depot, each
    # solved on its own in sector_share of the time; then groups of
    # neighbouring routes are re-solved until the time is up (_Sectors).
    # None = never.
    decompose_above: int | None = 500
    sector_visits: int = 200
    sector_share: float = 0.4
    sector_routes: int = 8  # at least this many full routes fit a sector
    # A sector's iterated local search recreates without a descent after
    # each recreate (improve_perturbed for the sectors' first solve only):
    # many more, cheaper iterations on 200 visits. Regrouping keeps its own.
    sector_improve_perturbed: bool = False
    # How a group of routes is re-solved (see "Regrouping" in the module
    # docstring), always with every visit served:
    # "ruin": ruin and recreate from its current routes, with as many vehicles
    #   as it has routes (_ruin_and_recreate);
    # "scratch": OR-Tools' iterated local search from a first solution of its
    #   own, with as many vehicles as it has routes plus regroup_extra_routes;
    # "guided": guided local search from its current routes, the whole fleet
    #   trimmed as for any warm start.
    regroup_search: str = "ruin"
    # Each pass of regrouping gives its groups this share of the time limit
    # (a group: the share over the waves of workers a pass takes).
    regroup_share: float = 0.2
    regroup_extra_routes: int = 0
    # Ruin and recreate: about this many visits removed a step (strings of
    # neighbouring visits, as SISR), and a new plan accepted when it costs
    # less than the current one plus this share of the best, the share falling
    # to 0 over the group's time (threshold acceptance).
    regroup_ruin_visits: int = 15
    regroup_ruin_threshold: float = 0.01
    # ... and OR-Tools' descent run on every this many steps' plan.
    regroup_descent_every: int = 25
    # Long routes (too few per sector to cut the instance, e.g. Gehring &
    # Homberger type 2): solve whole for this share of the time left after its
    # first solution, then re-solve groups of neighbouring routes of that
    # solution, as the sectors' second phase does, for the rest. None = solve
    # whole to the end. Type 2 at 60 s, one solve at a time on the quiet
    # 2-core machine: whole to the end 11.45%; 0.3 10.00% with one worker and
    # 9.75% with two; 0.5 10.44% and 10.26 / 10.28%; 0.15 10.73% (two
    # workers). (With two solves side by side, a core each, 0.5 had measured
    # 13.7% against 11.9%, and at a third of a core 30.2% against 35.1%.)
    regroup_whole_share: float | None = 0.3
    # End the search once this share of the time left after its first
    # solution has passed (how run_from_whole hands the rest to regrouping:
    # a first solution of 1,000 visits takes 4-20 s, so a share of the whole
    # limit would leave a slow start no search). Checked as solutions come: a
    # search that finds none for a while runs on past its share. None = use all the time.
    share_after_first: float | None = None
    # Sectors (and groups of routes) solved at once, each in a process of its
    # own (forked): OR-Tools' Python wrapper holds the GIL while it searches
    # (two threads used one core: 20.5 s of CPU in a 20.9 s solve).
    workers: int = 1
    # Parallel cheapest insertion looks at this share of each node's nearest
    # neighbours (at least insertion_min_neighbors); 1.0 = all of them.
    insertion_neighbors_ratio: float = 1.0
    insertion_min_neighbors: int = 1
    # More local-search operators to switch off, comma-separated field names
    # of OR-Tools' local_search_operators (e.g. "use_make_inactive").
    operators_off: str = ""
    log_search: bool = False
    # The trimming first solution with each route's load capped at this share
    # of its vehicle's capacity (None: the whole capacity): more, shorter
    # routes to start from. See whole_alternative_load_share.
    first_load_share: float | None = None
    # Long routes, with two workers or more: a second whole solve runs beside
    # the first, from a first solution whose loads are capped at this share
    # of capacity; the cheaper of the two is regrouped. The search keeps
    # about as many routes as its first solution has (it opens none and
    # closes few): Gehring & Homberger R2_10_2, whose best known solution
    # has 32 routes, started from 24 and ended 12.7% above it; capped at 0.6
    # it started from 33 and ended 8.9% above (0.5: 10.1%, 0.7: 9.8%). Where
    # capacity binds (C2_10_2) the capped start is far worse, so it is one of
    # two. Type 2 at 60 s with two workers: 9.75 / 9.77% -> 8.13 / 8.35 / 8.09%.
    # None = one solve.
    whole_alternative_load_share: float | None = 0.6

    def __post_init__(self) -> None:
        if self.first_solution not in _FIRST.Value.keys():  # noqa: SIM118 (not a dict)
            raise ValueError(f"unknown first-solution strategy {self.first_solution!r}")
        if self.metaheuristic not in _META.Value.keys():  # noqa: SIM118 (not a dict)
            raise ValueError(f"unknown metaheuristic {self.metaheuristic!r}")
        if self.stall_seconds is not None and not self.stall_seconds > 0:
            raise ValueError("stall_seconds must be positive (or None)")
        if self.check_solution_period is not None and self.check_solution_period < 1:
            raise ValueError("check_solution_period must be at least 1")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.regroup_extra_routes < 0:
            raise ValueError("regroup_extra_routes must be 0 or more")
        if self.regroup_search not in _REGROUP_SEARCHES:
            raise ValueError(f"regroup_search must be one of {', '.join(_REGROUP_SEARCHES)}")
        if not 0 < self.regroup_share <= 1:
            raise ValueError("regroup_share must be a share of the time limit, above 0 and at most 1")
        if self.regroup_descent_every < 1:
            raise ValueError("regroup_descent_every must be at least 1")
        if self.regroup_ruin_visits < 1:
            raise ValueError("regroup_ruin_visits must be at least 1")
        if not 0 <= self.regroup_ruin_threshold < 1:
            raise ValueError("regroup_ruin_threshold must be a share of the cost, at least 0 and below 1")
        for name in ("first_load_share", "whole_alternative_load_share"):
            share = getattr(self, name)
            if share is not None and not 0 < share <= 1:
                raise ValueError(f"{name} must be a share of the capacity, above 0 and at most 1 (or None)")

    @property
    def uses_ils(self) -> bool:
        """True when the search is OR-Tools' iterated local search (no stall stop)."""
        return self.iterated_local_search and self.stall_seconds is None


DEFAULT_SEARCH = SearchOptions()


@dataclass
class EngineSolution:
    """Routes as node sequences (terminals excluded), one list per vehicle.

    ``stats``: ``build_seconds``; ``first_solution_seconds`` and
    ``best_seconds`` (when the first solution, and the final objective, were
    first reached, counted from the start of the call); ``improvements``;
    ``stalled`` (1.0 when the stall limit ended the search).
    """

    routes: list[list[int]]
    dropped: list[int]
    objective: int
    status: str
    seconds: float
    stats: dict[str, float] = field(default_factory=dict)


class _Progress:
    """Watches solutions as they come: when the best appeared, and stalls.

    OR-Tools calls :meth:`on_solution` for every solution the search accepts
    (a cheap call: a few per second in a 1,000-visit search). On a stall it
    raises the model's interrupt flag, which every OR-Tools search limit
    checks, so the search ends and returns its best solution.
    """

    def __init__(
        self,
        model: pywrapcp.RoutingModel,
        started: float,
        stall_seconds: float | None,
        *,
        time_limit: float | None = None,
        share_after_first: float | None = None,
    ) -> None:
        self.model = model
        self.started = started
        self.stall_seconds = stall_seconds
        self.time_limit = time_limit
        self.share_after_first = share_after_first
        self.stop_at: float | None = None
        self.best = math.inf
        self.best_at: float | None = None
        self.first_at: float | None = None
        self.improvements = 0
        self.stalled = False
        # std::atomic<bool> behind RoutingModel::CancelSearch(); a plain byte
        # store is what CancelSearch does, and Python can do it mid-search.
        self._interrupt = ctypes.c_bool.from_address(int(model.GetMutableCPInterrupt()))

    def on_solution(self) -> None:
        now = time.perf_counter() - self.started
        # Min, not Value: with costs on times (a courier's day) the cost
        # variable need not be bound when the callback runs (Value aborts).
        cost = self.model.CostVar().Min()
        if self.first_at is None:
            self.first_at = now
            if self.share_after_first is not None and self.time_limit is not None:
                self.stop_at = now + self.share_after_first * max(0.0, self.time_limit - now)
        if self.stop_at is not None and now >= self.stop_at:
            self._interrupt.value = True  # the caller's share of the search is used up
        if cost < self.best:
            self.best, self.best_at = cost, now
            self.improvements += 1
        elif (
            self.stall_seconds is not None
            and self.best_at is not None
            and now - self.best_at >= self.stall_seconds
        ):
            self.stalled = True
            self._interrupt.value = True


def _search_parameters(options: SearchOptions, seconds: float) -> pywrapcp.DefaultRoutingSearchParameters:
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = _FIRST.Value.Value(options.first_solution)
    if options.uses_ils:
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
    for name in filter(None, (n.strip() for n in options.operators_off.split(","))):
        setattr(params.local_search_operators, name, _BOOL_FALSE)
    gci = params.global_cheapest_insertion_first_solution_parameters
    gci.neighbors_ratio = options.insertion_neighbors_ratio
    gci.min_neighbors = options.insertion_min_neighbors
    # Always bounded: GLS and friends never stop on their own.
    params.time_limit.FromMilliseconds(max(1, int(seconds * 1000)))
    params.log_search = options.log_search
    return params


def _vehicle_cost(inst: Instance, options: SearchOptions) -> int:
    """Search-only cost per used vehicle (the route-minimising pressure)."""
    if options.vehicle_cost_round_trips <= 0:
        return 0
    starts = sorted(set(inst.vehicle_start.tolist()))
    trips = inst.distance[starts][:, inst.first_visit :] + inst.distance[inst.first_visit :, starts].T
    return int(options.vehicle_cost_round_trips * float(trips.mean()))


def _build_model(
    inst: Instance, options: SearchOptions = DEFAULT_SEARCH
) -> tuple[pywrapcp.RoutingIndexManager, pywrapcp.RoutingModel]:
    manager = pywrapcp.RoutingIndexManager(
        inst.num_nodes,
        inst.num_vehicles,
        inst.vehicle_start.tolist(),
        inst.vehicle_end.tolist(),
    )
    model_params = pywrapcp.DefaultRoutingModelParameters()
    solver_params = model_params.solver_parameters
    period = options.check_solution_period
    if period is None:
        period = 100 if len(inst.visits) >= options.trim_above else 1
    solver_params.check_solution_period = period
    if not options.compress_trail:
        solver_params.compress_trail = _NO_COMPRESSION
    model = pywrapcp.RoutingModel(manager, model_params)

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
        if inst.fixed_vehicle is not None and inst.fixed_vehicle[node] >= 0:
            # On that vehicle or not served at all (-1: left out).
            model.VehicleVar(index).SetValues([-1, int(inst.fixed_vehicle[node])])

    extra = _vehicle_cost(inst, options)
    for vehicle in range(inst.num_vehicles):
        shift = (int(inst.shift_start[vehicle]), int(inst.shift_end[vehicle]))
        time_dim.CumulVar(model.Start(vehicle)).SetRange(*shift)
        time_dim.CumulVar(model.End(vehicle)).SetRange(*shift)
        if inst.leave_at_shift_start:
            time_dim.CumulVar(model.Start(vehicle)).SetValue(shift[0])
        if inst.completion_cost:
            # With the start fixed, a route's span is its completion.
            time_dim.SetSpanCostCoefficientForVehicle(int(inst.completion_cost), vehicle)
        if inst.fixed_cost[vehicle] or extra:
            model.SetFixedCostOfVehicle(int(inst.fixed_cost[vehicle]) + extra, vehicle)
    return manager, model


def _objective(inst: Instance, routes: list[list[int]], dropped: list[int]) -> int:
    """The plan's own objective: arcs, vehicle fixed costs, penalties."""
    total = 0
    for vehicle, route in enumerate(routes):
        if route:
            path = [int(inst.vehicle_start[vehicle]), *route, int(inst.vehicle_end[vehicle])]
            total += int(inst.distance[path[:-1], path[1:]].sum()) + int(inst.fixed_cost[vehicle])
    return total + int(inst.penalty[dropped].sum()) if dropped else total


def _vehicles(inst: Instance, keep: list[int]) -> Instance:
    """``inst`` with only the vehicles ``keep`` (same nodes, same order)."""
    return replace(
        inst,
        capacity=inst.capacity[:, keep],
        vehicle_start=inst.vehicle_start[keep],
        vehicle_end=inst.vehicle_end[keep],
        shift_start=inst.shift_start[keep],
        shift_end=inst.shift_end[keep],
        fixed_cost=inst.fixed_cost[keep],
    )


def _worth_trimming(inst: Instance, options: SearchOptions) -> bool:
    """Many visits, and far more vehicles than their loads need.

    Trimming costs a first solution of its own; a courier day with eight
    e-bikes that all go out has nothing to trim.
    """
    if len(inst.visits) < options.trim_above or inst.num_vehicles < 2:
        return False
    if inst.fixed_vehicle is not None and bool((inst.fixed_vehicle >= 0).any()):
        return False  # vehicles already carrying parcels stay in the plan, numbered as they are
    loads = inst.demand[:, inst.first_visit :].sum(axis=1)
    biggest = inst.capacity.max(axis=1)
    needed = max((math.ceil(t / c) for t, c in zip(loads, biggest, strict=True) if c > 0), default=1)
    return inst.num_vehicles > 1.5 * max(needed, 1)


def _fleet_to_keep(
    inst: Instance, options: SearchOptions, seconds: float
) -> tuple[list[int], list[list[int]] | None]:
    """The vehicles a first solution uses, plus ``fleet_slack`` more (see SearchOptions).

    Also returns that first solution's routes (one list per vehicle) when it
    serves every visit: the answer if the trimmed search runs out of time.
    """
    assert options.fleet_slack is not None
    first = inst
    if options.first_load_share is not None:
        capped = np.floor(inst.capacity * options.first_load_share).astype(inst.capacity.dtype)
        first = replace(inst, capacity=capped)
    _manager, model = _build_model(first, options)  # the manager must outlive the model
    params = _search_parameters(replace(options, iterated_local_search=False), seconds)
    params.solution_limit = 1  # the first solution, no local search
    solution = model.SolveWithParameters(params)
    every = list(range(inst.num_vehicles))
    if solution is None:
        return every, None
    routes = _read_routes(solution, model, _manager, inst.num_vehicles)
    used = [v for v in every if routes[v]]
    if sum(len(r) for r in routes) < len(inst.visits):
        # A stop left out might need an idle vehicle: keep them all.
        return every, None
    room = min(inst.num_vehicles, math.ceil(len(used) * (1 + options.fleet_slack)) + 1)
    keep = set(used)
    # Every terminal node must stay some vehicle's start or end.
    terminals: set[int] = set()
    for v in every:
        ends = {int(inst.vehicle_start[v]), int(inst.vehicle_end[v])}
        if v in keep or len(keep) < room or not ends <= terminals:
            keep.add(v)
            terminals |= ends
    return sorted(keep), routes


def _read_routes(
    solution: pywrapcp.Assignment,
    model: pywrapcp.RoutingModel,
    manager: pywrapcp.RoutingIndexManager,
    vehicles: int,
) -> list[list[int]]:
    routes = []
    for vehicle in range(vehicles):
        route = []
        index = solution.Value(model.NextVar(model.Start(vehicle)))
        while not model.IsEnd(index):
            route.append(manager.IndexToNode(index))
            index = solution.Value(model.NextVar(index))
        routes.append(route)
    return routes


def _decomposable(inst: Instance, options: SearchOptions) -> bool:
    """Large enough, with coordinates, one depot and identical vehicles: routes can be regrouped.

    Only a textbook instance: a courier's day (the service's every solve) also
    leaves at the shift's start, pays for each route's length in time and keeps
    loaded parcels on their courier's van, which a sector's sub-instance
    (:func:`_sub_instance`) does not carry.
    """
    if options.decompose_above is None or inst.coordinates is None:
        return False
    if inst.leave_at_shift_start or inst.completion_cost:
        return False
    if inst.fixed_vehicle is not None and bool((inst.fixed_vehicle >= 0).any()):
        return False
    if len(inst.visits) < max(options.decompose_above, 2 * options.sector_visits):
        return False
    if bool((inst.demand < 0).any()):
        return False  # regrouping judges loads by route totals, exact only without pickups
    same = lambda a: bool((a == a[..., :1]).all())  # noqa: E731
    return inst.first_visit == 1 and all(
        same(a) for a in (inst.capacity, inst.shift_start, inst.shift_end, inst.fixed_cost)
    )


def _regroups_whole(inst: Instance, options: SearchOptions) -> bool:
    """Whether a whole solve is followed by re-solving groups of its routes (``regroup_whole_share``)."""
    return options.regroup_whole_share is not None and _decomposable(inst, options)


def _sector_size(inst: Instance, options: SearchOptions) -> int | None:
    """Visits per sector for this instance, or None when it is solved whole."""
    if not _decomposable(inst, options):
        return None
    # A sector must hold several full routes, or its borders cut most of them
    # (Gehring & Homberger type 2, 40-60 visits a route, ended with 1.2x the
    # vehicles in sectors of 200). Visits a route can carry, by capacity:
    demand = inst.demand[:, inst.first_visit :].mean(axis=1)
    loads = [c / d for c, d in zip(inst.capacity[:, 0], demand, strict=True) if d > 0]
    # Sectors sized to hold them (293-449 visits) did worse on type 2 than
    # one whole solve (mean gap 14.5% against 12.6%, RC2_10_2 1.2x vehicles).
    per_route = min(loads, default=0.0)
    if options.sector_visits < options.sector_routes * per_route:
        return None
    return options.sector_visits


def _sub_instance(inst: Instance, visits: np.ndarray, vehicles: int) -> Instance:
    """The depot and ``visits`` only, with ``vehicles`` of the (identical) fleet."""
    nodes = np.concatenate([[0], visits])
    return Instance(
        distance=inst.distance[np.ix_(nodes, nodes)],
        duration=inst.duration[np.ix_(nodes, nodes)],
        service=inst.service[nodes],
        window_start=inst.window_start[nodes],
        window_end=inst.window_end[nodes],
        demand=inst.demand[:, nodes],
        capacity=inst.capacity[:, :vehicles],
        vehicle_start=inst.vehicle_start[:vehicles],
        vehicle_end=inst.vehicle_end[:vehicles],
        shift_start=inst.shift_start[:vehicles],
        shift_end=inst.shift_end[:vehicles],
        fixed_cost=inst.fixed_cost[:vehicles],
        penalty=inst.penalty[nodes],
        first_visit=1,
        coordinates=None if inst.coordinates is None else inst.coordinates[nodes],
    )


def _angles(inst: Instance, nodes: np.ndarray) -> np.ndarray:
    assert inst.coordinates is not None
    offset = inst.coordinates[nodes] - inst.coordinates[0]
    return np.arctan2(offset[:, 1], offset[:, 0])


def _route_cost(inst: Instance, route: list[int]) -> int:
    path = [0, *route, 0]
    return int(inst.distance[path[:-1], path[1:]].sum())


def _solve_part(
    task: tuple[Instance, np.ndarray, float, list[list[int]] | None, SearchOptions, float, float],
) -> list[list[int]] | None:
    """Solve the sub-instance ``sub`` of ``visits``; its routes as the whole instance's nodes, or None.

    ``warm`` (its routes, in the sub-instance's nodes) starts the search; the
    time is ``seconds`` but ends by ``deadline`` (``time.perf_counter``: one
    clock across forked processes), and a part left less than ``least``
    seconds is not started. A module function, so that a worker process can run it.
    """
    sub, visits, seconds, warm, options, deadline, least = task
    seconds = min(seconds, deadline - time.perf_counter())
    if seconds < least:
        return None
    if options.regroup_search == "ruin" and warm is not None:
        found = _ruin_and_recreate(sub, warm, seconds, options)
    else:
        try:
            solution = solve_instance(sub, time_limit=seconds, options=options, initial_routes=warm)
        except RoutingSolverError:
            return None  # no first solution in its time: the caller falls back
        if solution.dropped:
            return None
        found = solution.routes
    return [[int(visits[node - 1]) for node in route] for route in found if route]


def _ruin_strings(routes: list[list[int]], near: np.ndarray, visits: int, rng: random.Random) -> set[int]:
    """About ``visits`` visits to remove: strings of consecutive visits on neighbouring routes.

    SISR's ruin (Christiaens & Vanden Berghe 2020), simplified: from a random
    visit, walk its nearest nodes (``near``: each node's nodes by distance,
    itself first); the first visit met on each route not yet cut cuts a
    string of 1-10 visits around it from that route.
    """
    where = {v: (k, i) for k, route in enumerate(routes) for i, v in enumerate(route)}
    removed: set[int] = set()
    cut: set[int] = set()
    for node in near[rng.choice(list(where))]:
        if len(removed) >= visits:
            break
        if (found := where.get(int(node))) is None or found[0] in cut:
            continue  # the depot, or a route already cut
        k, i = found
        cut.add(k)
        route = routes[k]
        length = rng.randint(1, min(10, len(route)))
        first = max(0, min(i - rng.randrange(length), len(route) - length))
        removed.update(route[first : first + length])
    return removed


class _Insertion:
    """Cheapest insertion of visits into routes, within windows, shifts and loads.

    Each route's start times are kept both ways: the earliest start of
    service at each node going forward, and the latest that keeps every
    later window and the shift's end going backward. A visit fits between
    two nodes when its own earliest start is inside its window and leaving
    it still reaches the next node by that node's latest start, so each
    position is judged in constant time (numpy over a route's positions).
    Times as in the model (:func:`_build_model`): the start of service,
    service riding on the arc that leaves a node, waiting allowed.
    """

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.transit = inst.duration + inst.service[:, None]
        self.opens = np.maximum(inst.window_start, 0)
        self.closes = np.minimum(inst.window_end, inst.horizon)

    def schedule(self, vehicle: int, route: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The route's nodes (its terminals included), earliest and latest start at each."""
        inst, transit = self.inst, self.transit
        path = np.array([inst.vehicle_start[vehicle], *route, inst.vehicle_end[vehicle]])
        legs = transit[path[:-1], path[1:]].tolist()
        opens, closes = self.opens[path].tolist(), self.closes[path].tolist()
        last = len(path) - 1
        early, late = [0] * len(path), [0] * len(path)
        # Clipped as the model's time variables are (0 to the horizon).
        early[0] = max(int(inst.shift_start[vehicle]), 0)
        late[last] = min(int(inst.shift_end[vehicle]), inst.horizon)
        # The visits within their windows; the terminals only within the shift.
        for i in range(1, last):
            early[i] = max(opens[i], early[i - 1] + legs[i - 1])
        early[last] = early[last - 1] + legs[last - 1]
        for i in range(last - 1, 0, -1):
            late[i] = min(closes[i], late[i + 1] - legs[i])
        late[0] = late[1] - legs[0]
        return path, np.array(early), np.array(late)

    def feasible(self, routes: list[list[int]]) -> bool:
        """Every route within its windows, its shift and its vehicle's capacity."""
        inst = self.inst
        for vehicle, route in enumerate(routes):
            if route and (inst.demand[:, route].sum(axis=1) > inst.capacity[:, vehicle]).any():
                return False
            _path, early, late = self.schedule(vehicle, route)
            if (early > late).any():
                return False
        return True

    def insert(self, routes: list[list[int]], visits: list[int]) -> list[list[int]] | None:
        """``routes`` with ``visits`` put in one by one, each where it adds least (None: one fits nowhere)."""
        inst, transit, distance = self.inst, self.transit, self.inst.distance
        routes = [list(route) for route in routes]
        schedules = [self.schedule(vehicle, route) for vehicle, route in enumerate(routes)]
        if any((early > late).any() for _path, early, late in schedules):
            # Taking visits out made a route late: possible where travel times
            # break the triangle inequality (a detour that was quicker).
            return None
        loads = [inst.demand[:, route].sum(axis=1) for route in routes]
        never = np.iinfo(np.int64).max
        for visit in visits:
            best: tuple[int, int, int] | None = None
            for vehicle, (path, early, late) in enumerate(schedules):
                if (loads[vehicle] + inst.demand[:, visit] > inst.capacity[:, vehicle]).any():
                    continue
                before, after = path[:-1], path[1:]
                start = np.maximum(self.opens[visit], early[:-1] + transit[before, visit])
                fits = (start <= self.closes[visit]) & (start + transit[visit, after] <= late[1:])
                if not fits.any():
                    continue
                added = distance[before, visit] + distance[visit, after] - distance[before, after]
                added = np.where(fits, added, never)
                position = int(added.argmin())
                if best is None or added[position] < best[0]:
                    best = (int(added[position]), vehicle, position)
            if best is None:
                return None
            _added, vehicle, position = best
            routes[vehicle].insert(position, visit)
            schedules[vehicle] = self.schedule(vehicle, routes[vehicle])
            loads[vehicle] = loads[vehicle] + inst.demand[:, visit]
        return routes


def _ruin_and_recreate(
    sub: Instance, routes: list[list[int]], seconds: float, options: SearchOptions
) -> list[list[int]]:
    """Improve ``routes`` (one per vehicle of ``sub``, every visit served) for ``seconds``.

    OR-Tools' iterated local search cannot start from given routes (it
    builds its own first solution, and a first-solution hint is not kept),
    so this is that loop in Python, from the group's routes: remove strings
    of neighbouring visits (:func:`_ruin_strings`), put each back where it
    adds least (:class:`_Insertion`, in random order), every
    ``regroup_descent_every`` steps run OR-Tools' descent on the result,
    and keep it by threshold acceptance. Returns the best plan met, never
    one that costs more than ``routes`` or leaves a visit out.
    """
    started = time.perf_counter()
    # Seeded by the routes (a tuple of ints hashes alike in every process):
    # the same routes search alike from run to run, a group whose routes
    # changed since the last pass searches anew.
    rng = random.Random(hash(tuple(map(tuple, routes))))
    insertion = _Insertion(sub)
    manager, model = _build_model(sub, options)
    descent = replace(options, iterated_local_search=False, metaheuristic="GREEDY_DESCENT")
    params = _search_parameters(descent, seconds)
    model.CloseModelWithParameters(params)
    near = np.argsort(sub.distance, axis=1, kind="stable")

    def cost(plan: list[list[int]]) -> int:
        return sum(_route_cost(sub, route) for route in plan if route)

    current = best = routes
    current_cost = best_cost = cost(routes)
    plans = 0
    while (left := seconds - (time.perf_counter() - started)) > 0.01:
        removed = _ruin_strings(current, near, options.regroup_ruin_visits, rng)
        order = sorted(removed)
        rng.shuffle(order)
        found = insertion.insert([[v for v in route if v not in removed] for route in current], order)
        if found is None:
            continue  # a removed visit fits nowhere now
        plans += 1
        if plans % options.regroup_descent_every == 0:
            start = model.ReadAssignmentFromRoutes([[manager.NodeToIndex(v) for v in r] for r in found], True)
            params.time_limit.FromMilliseconds(max(1, int(left * 1000)))
            # Unchecked: the routing filters judge windows, loads and shifts
            # exactly, and the plan is checked below before it can be kept.
            solution = None
            if start is not None:
                solution = model.FastSolveFromAssignmentWithParameters(start, params, False)
            if solution is None:
                continue
            found = _read_routes(solution, model, manager, sub.num_vehicles)
            served = sorted(v for route in found for v in route)
            if served != list(sub.visits) or not insertion.feasible(found):
                continue
        found_cost = cost(found)
        done = (time.perf_counter() - started) / seconds
        if found_cost < current_cost + options.regroup_ruin_threshold * best_cost * (1 - done):
            current, current_cost = found, found_cost
            if found_cost < best_cost:
                best, best_cost = found, found_cost
    return best


def _in_processes(function: Callable[[Any], R], tasks: list[Any], workers: int) -> list[R]:
    """``function`` of each task, in order; ``workers`` at a time in processes of their own.

    OR-Tools' Python wrapper holds the GIL while it searches, so threads would
    share one core. Forked, so that a worker starts in milliseconds with
    OR-Tools loaded; the engine runs in the bench's process or a solve slot,
    neither with other threads.
    """
    if workers > 1 and len(tasks) > 1:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context) as pool:
            return list(pool.map(function, tasks))
    return [function(task) for task in tasks]


def _solve_whole(task: tuple[Instance, float, SearchOptions]) -> EngineSolution | None:
    """``solve_instance`` of a whole instance in ``seconds``; None when it finds nothing (a worker's task)."""
    inst, seconds, options = task
    try:
        return solve_instance(inst, time_limit=seconds, options=options)
    except RoutingSolverError:
        return None


class _Sectors:
    """Solve a large instance sector by sector, then re-solve groups of routes.

    Large routing instances are routinely cut this way (sweep clustering;
    POPMUSIC, Taillard & Helsgaun 2019): a few hundred visits is where
    OR-Tools' iterated local search does well in seconds, while a thousand
    take it most of a minute just to reach a first local optimum.

    1. Sweep the visits by angle around the depot, cut them into sectors of
       about ``sector_visits``, solve each.
    2. Until the time is up: order the routes by angle, take consecutive
       routes holding about ``sector_visits`` visits (the cut moves by half a
       group each pass, so no border stays a border), improve them
       (``regroup_search``: by ruin and recreate from their routes) and keep
       the new routes when they cost less. A route costs its distance plus a
       mean depot round trip, so fewer routes win ties.
    """

    def __init__(
        self, inst: Instance, options: SearchOptions, started: float, time_limit: float, size: int
    ) -> None:
        self.inst = inst
        self.size = size
        self.options = options
        self.started = started
        self.deadline = started + time_limit
        # A sector sees the whole fleet: trim it whatever the sector's size.
        self.sub_options = replace(
            options, decompose_above=None, fleet_slack=options.fleet_slack or 0.15, trim_above=0
        )
        self.sector_options = replace(self.sub_options, improve_perturbed=options.sector_improve_perturbed)
        self.route_cost = max(1, _vehicle_cost(inst, replace(options, vehicle_cost_round_trips=1.0)))
        self.first_at: float | None = None
        self.best_at: float | None = None
        self.improvements = 0
        self.stalled = False
        self.count = 0
        #: run_from_whole's whole solve when it left visits out (and so was not regrouped).
        self.unregrouped: EngineSolution | None = None
        #: run_from_whole's whole solution, costed as regrouping costs it (distance + a round trip a route).
        self.whole_cost: int | None = None
        #: run_from_whole's whole solves that served every visit: (objective, routes) of each.
        self.wholes: list[tuple[int, int]] = []

    def _now(self) -> float:
        return time.perf_counter() - self.started

    def _cost(self, routes: list[list[int]]) -> int:
        return sum(_route_cost(self.inst, r) + self.route_cost for r in routes)

    def run(self) -> list[list[int]] | None:
        inst, options = self.inst, self.options
        visits = np.arange(inst.first_visit, inst.num_nodes)
        angle = _angles(inst, visits)
        order = visits[np.argsort(angle, kind="stable")]
        # Start the sweep in the widest empty gap, not through a cluster.
        ordered = np.sort(angle)
        gaps = np.diff(ordered, append=ordered[0] + 2 * math.pi)
        order = np.roll(order, -(int(np.argmax(gaps)) + 1))
        count = max(2, round(len(order) / self.size))
        self.count = count
        budget = options.sector_share * (self.deadline - time.perf_counter())
        per_sector = budget / math.ceil(count / options.workers)  # solved in that many waves
        chunks = np.array_split(order, count)
        found = self._map([(chunk, per_sector, None) for chunk in chunks], 0.2, self.sector_options)
        if any(f is None for f in found):
            return None
        routes = [r for f in found if f is not None for r in f]
        self.first_at = self.best_at = self._now()
        self._regroup(routes, self._per_group(count))
        return routes

    def run_from_whole(self) -> list[list[int]] | None:
        """Solve the whole instance for ``regroup_whole_share`` of its search, then regroup its routes.

        For long routes, which sectors would cut: the whole solve gives routes
        whose neighbours are settled, and groups of a few neighbouring routes
        are then small enough for many quick improvements.
        """
        options = self.options
        assert options.regroup_whole_share is not None
        whole_options = replace(
            options, regroup_whole_share=None, share_after_first=options.regroup_whole_share
        )
        whole = self._whole(whole_options)
        if whole is None:
            return None
        if whole.dropped:
            # Regrouping keeps every visit served, so it cannot start from this one:
            # the whole solve's answer stands (see solve_instance).
            self.unregrouped = whole
            return None
        routes = [route for route in whole.routes if route]
        self.whole_cost = self._cost(routes)
        self.first_at = whole.stats.get("first_solution_seconds")
        self.best_at = whole.stats.get("best_seconds", self._now())
        self.count = max(2, round(len(self.inst.visits) / self.size))
        self._regroup(routes, self._per_group(self.count))
        return routes

    def _per_group(self, groups: int) -> float:
        """Seconds for each of about ``groups`` groups: a pass takes ``regroup_share`` of the limit."""
        waves = math.ceil(groups / self.options.workers)
        return self.options.regroup_share * (self.deadline - self.started) / waves

    def _whole(self, whole_options: SearchOptions) -> EngineSolution | None:
        """The whole solve; with two workers, also one from a load-capped start, the cheaper of the two."""
        variants = [whole_options]
        share = whole_options.whole_alternative_load_share
        if share is not None and whole_options.workers > 1:
            variants.append(replace(whole_options, first_load_share=share))
        seconds = self.deadline - time.perf_counter()
        tasks = [(self.inst, seconds, variant) for variant in variants]
        solutions = _in_processes(_solve_whole, tasks, whole_options.workers)
        found = [s for s in solutions if s is not None]
        self.wholes = [(s.objective, sum(1 for r in s.routes if r)) for s in found if not s.dropped]
        # Every visit served first, then the plan's own objective (distance here; not
        # regrouping's cost, whose round trip a route would hold the longer routes).
        return min(found, key=lambda s: (len(s.dropped), s.objective), default=None)

    def _part(
        self, visits: np.ndarray, current: list[list[int]] | None
    ) -> tuple[Instance, list[list[int]] | None]:
        """The sub-instance of ``visits`` and the routes to start its search from (None: its own).

        A sector (no ``current`` routes) gets the whole fleet. A group of
        ``current`` routes (``regroup_search``): by ruin and recreate, as many
        vehicles as it has routes and its routes in the sub-instance's nodes;
        from scratch, as many vehicles as it has routes (plus
        ``regroup_extra_routes``) and no start; so regrouping never adds
        routes. Guided, the whole fleet and its routes.
        """
        if current is None:
            return _sub_instance(self.inst, visits, self.inst.num_vehicles), None
        search = self.options.regroup_search
        if search == "scratch":
            fleet = min(self.inst.num_vehicles, len(current) + self.options.regroup_extra_routes)
            return _sub_instance(self.inst, visits, fleet), None
        position = {int(v): i + 1 for i, v in enumerate(visits)}
        warm = [[position[v] for v in r] for r in current]
        if search == "ruin":
            return _sub_instance(self.inst, visits, len(current)), warm
        sub = _sub_instance(self.inst, visits, self.inst.num_vehicles)
        return sub, warm + [[] for _ in range(sub.num_vehicles - len(warm))]

    def _map(
        self,
        jobs: list[tuple[np.ndarray, float, list[list[int]] | None]],
        least: float,
        options: SearchOptions,
    ) -> list[list[list[int]] | None]:
        """Solve each (visits, seconds, current routes) job, ``workers`` at a time, with ``options``."""
        tasks = []
        for visits, seconds, current in jobs:
            sub, warm = self._part(visits, current)
            tasks.append((sub, visits, seconds, warm, options, self.deadline, least))
        return _in_processes(_solve_part, tasks, self.options.workers)

    def _regroup(self, routes: list[list[int]], per_group: float) -> None:
        inst, options = self.inst, self.options
        # Ruin and recreate starts from the routes, so a short time still helps;
        # a search from scratch needs half a second for a first solution.
        least = 0.05 if options.regroup_search == "ruin" else 0.5
        shift = 0
        while self.deadline - time.perf_counter() > 0.5:
            centres = [float(np.angle(np.exp(1j * _angles(inst, np.array(r))).mean())) for r in routes]
            ring = [routes[i] for i in np.argsort(centres, kind="stable")]
            groups: list[list[int]] = [[]]
            visits = 0
            for position in range(len(ring)):
                index = (position + shift) % len(ring)
                if visits >= self.size:
                    groups.append([])
                    visits = 0
                groups[-1].append(index)
                visits += len(ring[index])
            shift += max(1, len(groups[0]) // 2)
            olds = [[ring[i] for i in group] for group in groups]
            jobs = [(np.array([v for r in old for v in r]), per_group, old) for old in olds]
            changed: dict[int, list[list[int]]] = {}
            for group, old, found in zip(groups, olds, self._map(jobs, least, self.sub_options), strict=True):
                if found is not None and self._cost(found) < self._cost(old):
                    changed[group[0]] = found
                    for i in group[1:]:
                        changed[i] = []
                    self.best_at = self._now()
                    self.improvements += 1
            routes[:] = [r for i, old in enumerate(ring) for r in changed.get(i, [old]) if r]
            if (
                not changed
                and options.stall_seconds is not None
                and self.best_at is not None
                and self._now() - self.best_at >= options.stall_seconds
            ):
                self.stalled = True
                return


def solve_instance(
    inst: Instance,
    *,
    time_limit: float,
    options: SearchOptions = DEFAULT_SEARCH,
    initial_routes: list[list[int]] | None = None,
) -> EngineSolution:
    """Solve ``inst`` within ``time_limit`` seconds, model building included.

    ``initial_routes`` (node lists, one per vehicle) warm-start the search:
    it then runs the metaheuristic (guided local search) from them, as
    OR-Tools' iterated local search always builds its own first solution.

    Raises :class:`RoutingSolverError` when no solution exists (only
    possible when some vehicle cannot even drive from its start to its end
    within its shift).
    """
    started = time.perf_counter()
    size = None if initial_routes is not None else _sector_size(inst, options)
    whole_first = size is None and initial_routes is None and _regroups_whole(inst, options)
    if size is not None or whole_first:
        sectors = _Sectors(inst, options, started, time_limit, size or options.sector_visits)
        found = sectors.run() if size is not None else sectors.run_from_whole()
        if sectors.unregrouped is not None:
            return sectors.unregrouped
        if found is not None and len(found) <= inst.num_vehicles:
            routes = found + [[] for _ in range(inst.num_vehicles - len(found))]
            stats = {
                "improvements": float(sectors.improvements),
                "stalled": float(sectors.stalled),
                "sectors": float(sectors.count),
            }
            if sectors.first_at is not None and sectors.best_at is not None:
                stats |= {"first_solution_seconds": sectors.first_at, "best_seconds": sectors.best_at}
            if sectors.whole_cost is not None:
                # Solved whole, then regrouped: both costed alike, so a test can hold one to the other.
                regrouped = float(sectors._cost(found))
                stats |= {"whole_cost": float(sectors.whole_cost), "regrouped_cost": regrouped}
                for n, (objective, used) in enumerate(sectors.wholes):
                    stats |= {f"whole_{n}_objective": float(objective), f"whole_{n}_routes": float(used)}
            return EngineSolution(
                routes=routes,
                dropped=[],
                objective=_objective(inst, routes, []),
                status="success",
                seconds=time.perf_counter() - started,
                stats=stats,
            )
    keep = list(range(inst.num_vehicles))
    first_routes = None
    warm = initial_routes
    if warm is not None:
        if len(warm) != inst.num_vehicles:
            raise ValueError("initial_routes needs one list per vehicle")
        if options.fleet_slack is not None and len(inst.visits) >= options.trim_above:
            used = [v for v, route in enumerate(warm) if route]
            room = math.ceil(len(used) * (1 + options.fleet_slack)) + 1
            keep = sorted(used + [v for v, route in enumerate(warm) if not route][: room - len(used)])
    elif options.fleet_slack is not None and _worth_trimming(inst, options):
        keep, first_routes = _fleet_to_keep(inst, options, 0.5 * time_limit)
        if (
            first_routes is not None
            and options.trim_warm_above is not None
            and len(inst.visits) >= options.trim_warm_above
        ):
            warm = first_routes
    full, inst = inst, _vehicles(inst, keep) if len(keep) < inst.num_vehicles else inst
    manager, model = _build_model(inst, options)
    built = time.perf_counter() - started
    # The search gets what building left (0.13 s for 1,000 visits), but never
    # less than a tenth of the limit, so a tiny limit still finds something.
    remaining = max(time_limit - built, 0.1 * time_limit)
    progress = _Progress(
        model,
        started,
        options.stall_seconds,
        time_limit=time_limit,
        share_after_first=options.share_after_first,
    )
    model.AddAtSolutionCallback(progress.on_solution)

    solution = None
    if warm is not None:
        # OR-Tools' iterated local search cannot start from given routes;
        # the metaheuristic can.
        params = _search_parameters(replace(options, iterated_local_search=False), remaining)
        model.CloseModelWithParameters(params)
        index_routes = [[manager.NodeToIndex(n) for n in warm[v]] for v in keep]
        start = model.ReadAssignmentFromRoutes(index_routes, True)
        if start is not None:
            solution = model.SolveFromAssignmentWithParameters(start, params)
    if solution is None:
        left = max(time_limit - (time.perf_counter() - started), 0.1 * time_limit)
        params = _search_parameters(options, left)
        if options.uses_ils:
            # SolveWithParameters ignores use_iterated_local_search.
            solution = model.SolveWithIteratedLocalSearch(params)
        else:
            solution = model.SolveWithParameters(params)
    status = _STATUS.get(model.status(), str(model.status()))
    if solution is None and first_routes is None:
        raise RoutingSolverError(f"no solution found (solver status: {status})")
    if solution is None:
        # The trimmed search found nothing in its time: the first solution
        # that trimmed it serves every visit, so it is the answer.
        routes, inst, status = first_routes, full, "partial_success"
    else:
        if status == "not_solved":
            # SolveWithIteratedLocalSearch never sets the model's status; it
            # returned a solution, so say so.
            status = "success"
        routes = _read_routes(solution, model, manager, inst.num_vehicles)
        if inst is not full:
            # Back to the caller's vehicles: the trimmed ones drive nothing.
            by_vehicle: list[list[int]] = [[] for _ in range(full.num_vehicles)]
            for position, vehicle in enumerate(keep):
                by_vehicle[vehicle] = routes[position]
            routes, inst = by_vehicle, full
    served = {node for route in routes for node in route}
    dropped = [node for node in inst.visits if node not in served]
    stats = {"build_seconds": built, "improvements": float(progress.improvements)}
    if progress.first_at is not None:
        stats["first_solution_seconds"] = progress.first_at
    if progress.best_at is not None:
        stats["best_seconds"] = progress.best_at
    stats["stalled"] = float(progress.stalled)
    return EngineSolution(
        routes=routes,
        dropped=dropped,
        objective=_objective(inst, routes, dropped),
        status=status,
        seconds=time.perf_counter() - started,
        stats=stats,
    )
