"""Where values travel within a module: integer device ordinals, device strings and backends held in
names, attributes and parameters, and classes with their own ``cuda``/``to``.

The roles (codemod/engine/roles.py) judge a value by its parent; a value stored first and used later (``DEV =
"cuda"`` ... ``x.to(DEV)``, ``rank = dist.get_rank()`` ... ``model.to(rank)``) needs the whole module,
and the sparse parse gives LibCST only the statements that spell a trigger. Python's ``ast`` of the
whole file is already at hand (codemod/engine/statements.py) and ten times cheaper to walk, so the analysis
runs there once per file, on first demand, and answers by position: the rules look up the nodes they
are leaving, by (line, column), only when a cheap text key says the node may be one of the decided
sites.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Set, Tuple, Union

from accelport.codemod.engine.roles import BACKEND_ARGS as _BACKEND_ARGS, is_backend_key, is_device_word, stored_backend_role
from accelport.codemod.engine.statements import whole_file

Pos = Tuple[int, int]
FuncNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]

PORT = "port"
REPORT = "report"

_CUDA_STRING = re.compile(r"cuda(:\d+)?")
# Names that suggest an ordinal when nothing proves the value is one (`model.to(rank)` with `rank` a
# parameter nobody in the module calls).
_ORDINAL_WORD = re.compile(r"(?:^|_)(rank|gpu|gpu_id|gpu_idx|gpu_index|ordinal)$|^(gpu|dev|device)_?(id|idx|index|ordinal|num)$")
# Functions whose result is an integer rank (torch.distributed, deepspeed.comm, accelerate's state).
_RANK_FUNCTIONS = frozenset({"get_rank", "get_local_rank", "get_node_local_rank", "get_global_rank", "get_group_rank",
                             "device_count", "get_world_size", "get_local_size"})
_SPAWN = frozenset({"torch.multiprocessing.spawn", "torch.multiprocessing.start_processes",
                    "torch.multiprocessing.spawn.spawn"})  # fmt: skip
_TORCH_DEVICE = "torch.device"
# Methods of tensors whose `device=` is a torch device (the factories are `torch.*` functions).
_TENSOR_DEVICE_METHODS = frozenset({"to", "new_zeros", "new_ones", "new_empty", "new_full", "new_tensor"})
_DEVICE_KEYWORDS = frozenset({"device", "map_location", "device_type"})
_MESH_FIRST = frozenset({"init_device_mesh", "DeviceMesh"})
_NEUTRAL_CALLS = frozenset({"print", "str", "repr", "format"})
_LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "critical", "exception", "log"})
_INT_OPS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod)


def is_ordinal_word(name: str) -> bool:
    return bool(_ORDINAL_WORD.search(name.lower()))


def is_cuda_string(node: ast.AST) -> bool:
    """``"cuda"``, ``"cuda:N"`` or ``f"cuda:{i}"``: the forms cuda-device-string rewrites exactly."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and _CUDA_STRING.fullmatch(node.value) is not None
    if isinstance(node, ast.JoinedStr) and len(node.values) == 2:
        head, tail = node.values
        return (
            isinstance(head, ast.Constant) and head.value == "cuda:" and isinstance(tail, ast.FormattedValue)
            and tail.conversion == -1 and tail.format_spec is None
        )  # fmt: skip
    return False


def _is_nccl(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value == "nccl"


def _asks_nccl(node: ast.AST) -> bool:
    """An operand that makes a comparison the question "on NCCL?": "nccl", ``Backend.NCCL``, or None
    (``backend is None``); any other name is a choice among backends the code makes itself."""
    if isinstance(node, ast.Constant):
        return node.value is None or node.value == "nccl"
    return isinstance(node, ast.Attribute) and node.attr == "NCCL"


@dataclass
class _Scope:
    node: ast.AST
    parent: Optional["_Scope"]
    cls: Optional[str] = None  # the class a method belongs to
    # name -> the values bound to it (ast expressions, or the markers below)
    bindings: Dict[str, List[object]] = field(default_factory=dict)
    params: List[str] = field(default_factory=list)


# Nodes the walk never enters: load/store contexts and operators.
_NO_CHILDREN = (ast.expr_context, ast.operator, ast.boolop, ast.unaryop, ast.cmpop)

# Binding markers that are not expressions.
_INT = "int"
_UNKNOWN = "unknown"


@dataclass
class _Param:
    func: FuncNode
    index: int
    name: str


@dataclass
class Flow:
    """The decisions, by the (line, character column) where the node starts."""

    # Integer ordinals used as devices: position -> (PORT or REPORT, message).
    ints: Dict[Pos, Tuple[str, str]] = field(default_factory=dict)
    int_keys: Set[str] = field(default_factory=set)  # the name/attribute/function names at those positions
    # Device string literals (and "nccl" literals) that travel to a device (backend) use.
    strings: Dict[Pos, Tuple[str, str]] = field(default_factory=dict)
    backends: Dict[Pos, Tuple[str, str]] = field(default_factory=dict)
    # `.cuda(...)` calls whose receiver is (or may be) an object with its own `cuda`/`to`.
    own_cuda: Dict[Pos, str] = field(default_factory=dict)
    # `pin_memory: bool = True` parameter defaults that reach a `pin_memory=` flag: position of the True.
    pins: Dict[Pos, Tuple[str, str]] = field(default_factory=dict)


EMPTY = Flow()


class _Analysis:
    def __init__(self, tree: ast.Module, lines: List[str]) -> None:
        self.tree = tree
        self.lines = lines
        self.flow = Flow()
        self.imports: Dict[str, str] = {}
        self.relative: Set[str] = set()  # names bound by relative imports
        # Classes imported from a package other than torch: their `cuda` may be their own (bitsandbytes'
        # `Int8Params.cuda()` quantizes in place).
        self.foreign: Dict[str, str] = {}
        self.parents: Dict[int, ast.AST] = {}
        self.functions: Dict[str, FuncNode] = {}  # module-level functions by name
        self.classes: Dict[str, ast.ClassDef] = {}
        self.methods: Dict[Tuple[str, str], FuncNode] = {}
        self.func_scope: Dict[int, _Scope] = {}
        self.self_attrs: Dict[Tuple[str, str], List[Tuple[ast.AST, _Scope]]] = {}
        self.calls: List[Tuple[ast.Call, _Scope]] = []
        self.reads: List[Tuple[ast.AST, _Scope]] = []  # Name loads and Attribute loads
        self.spawned: Set[int] = set()  # id(function) whose first parameter is a process rank
        self.argparse_int: Set[str] = set()
        self.argparse_other: Set[str] = set()
        self._int_memo: Dict[Tuple[int, str], Optional[bool]] = {}
        self._scope_of: Optional[Dict[int, _Scope]] = None  # id(read) -> its scope, built on first need
        self.root = _Scope(tree, None)

    # -- positions ------------------------------------------------------------------------
    def pos(self, node: ast.AST) -> Pos:
        line, col = node.lineno, node.col_offset  # type: ignore[attr-defined]
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        if not text.isascii():
            col = len(text.encode("utf-8")[:col].decode("utf-8", errors="replace"))
        return line, col

    # -- the walk --------------------------------------------------------------------------
    def collect(self) -> None:
        self._walk(self.tree, self.root, None)

    def _bind(self, scope: _Scope, name: str, value: object) -> None:
        scope.bindings.setdefault(name, []).append(value)

    def _bind_target(self, scope: _Scope, target: ast.AST, value: object) -> None:
        if isinstance(target, ast.Name):
            self._bind(scope, target.id, value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._bind_target(scope, element, _UNKNOWN)
        elif isinstance(target, ast.Starred):
            self._bind_target(scope, target.value, _UNKNOWN)
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
            # In a method or in a function nested in one: every store counts against the attribute.
            cls = self._class_of(scope)
            if cls is not None:
                self.self_attrs.setdefault((cls, target.attr), []).append((value, scope))  # type: ignore[arg-type]

    def _walk(self, node: ast.AST, scope: _Scope, parent: Optional[ast.AST]) -> None:
        if parent is not None:
            self.parents[id(node)] = parent
        kind = type(node)
        # The leaves first, without the generic child loop: most nodes are names and constants.
        if kind is ast.Name:
            if type(node.ctx) is ast.Load:  # type: ignore[attr-defined]
                self.reads.append((node, scope))
            return
        if kind is ast.Constant:
            return
        if kind in (ast.FunctionDef, ast.AsyncFunctionDef):
            self._bind(scope, node.name, _UNKNOWN)  # type: ignore[attr-defined]
            inner = _Scope(node, scope)
            if isinstance(scope.node, ast.ClassDef):
                inner.cls = scope.node.name
                self.methods[(scope.node.name, node.name)] = node  # type: ignore[index]
            elif scope is self.root:
                self.functions[node.name] = node  # type: ignore[index, assignment]
            self.func_scope[id(node)] = inner
            args = node.args  # type: ignore[attr-defined]
            for param in (*args.posonlyargs, *args.args, *args.kwonlyargs):
                inner.params.append(param.arg)
                self._bind(inner, param.arg, _Param(node, len(inner.params) - 1, param.arg))  # type: ignore[arg-type]
            for star in (args.vararg, args.kwarg):
                if star is not None:
                    self._bind(inner, star.arg, _UNKNOWN)
            for child in (*node.decorator_list, *args.defaults, *(d for d in args.kw_defaults if d is not None)):  # type: ignore[attr-defined]
                self._walk(child, scope, node)
            for child in node.body:  # type: ignore[attr-defined]
                self._walk(child, inner, node)
            return
        if kind is ast.ClassDef:
            self._bind(scope, node.name, _UNKNOWN)  # type: ignore[attr-defined]
            if scope is self.root:
                self.classes[node.name] = node  # type: ignore[index, assignment]
            inner = _Scope(node, scope)
            for child in (*node.decorator_list, *node.bases, *node.keywords):  # type: ignore[attr-defined]
                self._walk(child, scope, node)
            for child in node.body:  # type: ignore[attr-defined]
                self._walk(child, inner, node)
            return
        if kind is ast.Lambda:
            inner = _Scope(node, scope)
            for param in node.args.args:  # type: ignore[attr-defined]
                self._bind(inner, param.arg, _UNKNOWN)
            self._walk(node.body, inner, node)  # type: ignore[attr-defined]
            return
        if kind is ast.Import:
            for alias in node.names:  # type: ignore[attr-defined]
                if scope is self.root:
                    if alias.asname:
                        self.imports[alias.asname] = alias.name
                    else:
                        self.imports[alias.name.split(".")[0]] = alias.name.split(".")[0]
            return
        if kind is ast.ImportFrom:
            for alias in node.names:  # type: ignore[attr-defined]
                local = alias.asname or alias.name
                if node.level:  # type: ignore[attr-defined]
                    self.relative.add(local)
                elif scope is self.root and node.module and alias.name != "*":  # type: ignore[attr-defined]
                    self.imports[local] = f"{node.module}.{alias.name}"  # type: ignore[attr-defined]
                    if local[:1].isupper() and node.module.split(".")[0] != "torch":  # type: ignore[attr-defined]
                        self.foreign[local] = node.module  # type: ignore[attr-defined]
            return
        if kind is ast.Assign:
            for target in node.targets:  # type: ignore[attr-defined]
                self._bind_target(scope, target, node.value)  # type: ignore[attr-defined]
        elif kind is ast.AnnAssign and node.value is not None:  # type: ignore[attr-defined]
            self._bind_target(scope, node.target, node.value)  # type: ignore[attr-defined]
        elif kind is ast.AugAssign:
            self._bind_target(scope, node.target, node)  # type: ignore[attr-defined]
        elif kind in (ast.For, ast.AsyncFor, ast.comprehension):
            self._bind_target(scope, node.target, _iter_value(node.iter))  # type: ignore[attr-defined]
        elif kind is ast.NamedExpr:
            self._bind_target(scope, node.target, node.value)  # type: ignore[attr-defined]
        elif kind is ast.withitem and node.optional_vars is not None:  # type: ignore[attr-defined]
            self._bind_target(scope, node.optional_vars, _UNKNOWN)  # type: ignore[attr-defined]
        elif kind is ast.Call:
            self.calls.append((node, scope))  # type: ignore[arg-type]
        elif kind is ast.Attribute and type(node.ctx) is ast.Load:  # type: ignore[attr-defined]
            self.reads.append((node, scope))
        # ast.iter_child_nodes, without its generator layers (this loop is most of the analysis' time).
        for name in node._fields:
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        self._walk(item, scope, node)
            elif isinstance(value, ast.AST) and not isinstance(value, _NO_CHILDREN):
                self._walk(value, scope, node)

    # -- names -------------------------------------------------------------------------------
    def qname(self, node: ast.AST) -> Optional[str]:
        parts: List[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in self.imports:
            return None
        parts.append(self.imports[node.id])
        return ".".join(reversed(parts))

    def _lookup(self, scope: _Scope, name: str) -> Tuple[Optional[_Scope], List[object]]:
        first = True
        current: Optional[_Scope] = scope
        while current is not None:
            if isinstance(current.node, ast.ClassDef) and not first:
                current = current.parent
                continue
            first = False
            if name in current.bindings:
                return current, current.bindings[name]
            current = current.parent
        return None, []

    # -- integers ----------------------------------------------------------------------------
    def is_int(self, node: object, scope: _Scope, depth: int = 0) -> Optional[bool]:
        """True: provably an int; False: provably not; None: unknown."""
        if depth > 12:
            return None
        if node == _INT:
            return True
        if node == _UNKNOWN:
            return None
        if isinstance(node, _Param):
            return self._param_int(node, depth + 1)
        if isinstance(node, ast.Constant):
            return type(node.value) is int
        if isinstance(node, (ast.Dict, ast.List, ast.Tuple, ast.Set, ast.Lambda, ast.JoinedStr, ast.DictComp, ast.ListComp)):
            return False
        if isinstance(node, ast.AugAssign):
            return self.is_int(node.value, scope, depth + 1) if isinstance(node.op, _INT_OPS) else None
        if isinstance(node, ast.BinOp) and isinstance(node.op, _INT_OPS):
            left, right = self.is_int(node.left, scope, depth + 1), self.is_int(node.right, scope, depth + 1)
            return True if left and right else None
        if isinstance(node, ast.IfExp):
            a, b = self.is_int(node.body, scope, depth + 1), self.is_int(node.orelse, scope, depth + 1)
            return True if a and b else (False if a is False and b is False else None)
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in ("int", "len") and func.id not in self.imports:
                return True
            if isinstance(func, (ast.Name, ast.Attribute)) and not node.args:
                name = func.id if isinstance(func, ast.Name) else func.attr
                qname = self.qname(func) or ""
                if name in _RANK_FUNCTIONS and (qname.startswith(("torch.", "deepspeed")) or isinstance(func, ast.Attribute)):
                    return True
            return None
        if isinstance(node, ast.Name):
            owner, values = self._lookup(scope, node.id)
            if owner is None or not values:
                return None
            return self._all_int(values, owner, (id(owner.node), node.id), depth)
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                cls = self._class_of(scope)
                stores = self.self_attrs.get((cls, node.attr), []) if cls else []
                if not stores:
                    return None
                results = [self.is_int(value, where, depth + 1) for value, where in stores]
                return True if all(results) else (False if all(r is False for r in results) else None)
            if node.attr == "local_rank" and isinstance(node.value, ast.Name) and node.attr not in self.argparse_other:
                return True  # `args.local_rank`: the launcher's `--local_rank`, an int by convention
            if node.attr in self.argparse_int and isinstance(node.value, ast.Name):
                return True
        return None

    def _all_int(self, values: List[object], owner: _Scope, key: Tuple[int, str], depth: int) -> Optional[bool]:
        if key in self._int_memo:
            return self._int_memo[key]
        self._int_memo[key] = None  # a cycle proves nothing
        results = [self.is_int(value, owner, depth + 1) for value in values]
        answer = True if all(results) else (False if all(r is False for r in results) else None)
        self._int_memo[key] = answer
        return answer

    def _class_of(self, scope: _Scope) -> Optional[str]:
        current: Optional[_Scope] = scope
        while current is not None:
            if current.cls is not None:
                return current.cls
            current = current.parent
        return None

    def _param_int(self, param: _Param, depth: int) -> Optional[bool]:
        func = param.func
        args = func.args
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        annotation = every[param.index].annotation
        if isinstance(annotation, ast.Name) and annotation.id == "int":
            return True
        if param.index == 0 and id(func) in self.spawned:
            return True
        results: List[Optional[bool]] = []
        for call, scope, offset in self._callers(func):
            value = _argument(call, param.index - offset, param.name) if param.index >= offset else None
            if value is None:
                return None  # a default, a star argument, or `self`: not followed
            results.append(self.is_int(value, scope, depth + 1))
        if not results:
            return None
        return True if all(results) else (False if all(r is False for r in results) else None)

    def _callers(self, func: FuncNode) -> Iterable[Tuple[ast.Call, _Scope, int]]:
        """The module's own calls of ``func``: (call, scope, how many parameters the call does not pass)."""
        name = func.name
        if self.functions.get(name) is func:
            for call, scope in self.calls:
                if isinstance(call.func, ast.Name) and call.func.id == name and self._lookup(scope, name)[0] is self.root:
                    yield call, scope, 0
            return
        for (cls, method), node in self.methods.items():
            if node is not func:
                continue
            for call, scope in self.calls:
                target = call.func
                if method == "__init__" and isinstance(target, ast.Name) and target.id == cls:
                    yield call, scope, 1
                elif (
                    isinstance(target, ast.Attribute) and target.attr == method and isinstance(target.value, ast.Name)
                    and target.value.id == "self" and self._class_of(scope) == cls
                ):  # fmt: skip
                    yield call, scope, 1

    # -- phases --------------------------------------------------------------------------------
    def prepare(self) -> None:
        for call, _scope in self.calls:
            qname = self.qname(call.func) or ""
            if qname in _SPAWN and call.args and isinstance(call.args[0], ast.Name):
                func = self.functions.get(call.args[0].id)
                if func is not None:
                    self.spawned.add(id(func))
            if isinstance(call.func, ast.Attribute) and call.func.attr == "add_argument":
                dest = _argparse_dest(call)
                if dest is not None:
                    kind = _keyword(call, "type")
                    if isinstance(kind, ast.Name) and kind.id == "int":
                        self.argparse_int.add(dest)
                    elif kind is not None:
                        self.argparse_other.add(dest)

    def integer_devices(self) -> None:
        for call, scope in self.calls:
            for value, api_ok, what in self._device_args(call):
                self._integer_site(value, scope, api_ok, what, call)

    def _device_args(self, call: ast.Call) -> Iterable[Tuple[ast.AST, bool, str]]:
        """(argument, whether the API takes a torch device, the API's name) for each device argument."""
        func = call.func
        qname = self.qname(func) or ""
        if qname.startswith("torch.cuda."):
            return  # an index on the runtime's interface: torch-cuda-call's and current-device's
        method = func.attr if isinstance(func, ast.Attribute) else None
        torch_api = qname.startswith("torch.") or method in _TENSOR_DEVICE_METHODS
        shown = qname or _short(ast.unparse(func))
        if call.args and not isinstance(call.args[0], ast.Starred) and (method == "to" or qname == _TORCH_DEVICE):
            yield call.args[0], True, shown
        if qname == "torch.load" and len(call.args) > 1:
            yield call.args[1], True, shown
        for kw in call.keywords:
            if kw.arg in ("device", "map_location"):
                yield kw.value, torch_api or kw.arg == "map_location", shown

    def _integer_site(self, value: ast.AST, scope: _Scope, api_ok: bool, api: str, call: ast.Call) -> None:
        key = _key(value)
        if key is None:
            return
        proven = self.is_int(value, scope)
        text = _short(ast.unparse(value))
        if proven:
            if api_ok:
                self._int(value, key, PORT, "")
            else:
                self._int(value, key, REPORT, f"`{text}` is an integer, which `{api}` may read as CUDA device {text}: "
                          f"if it takes a torch device, pass get_accelerator().device_name({text})")
        elif proven is None and isinstance(value, (ast.Name, ast.Attribute)) and is_ordinal_word(key):
            self._int(value, key, REPORT, f"`{text}` looks like a device ordinal, which PyTorch reads as a CUDA "
                      f"device: if it is an int, pass get_accelerator().device_name({text})")

    def _int(self, node: ast.AST, key: str, decision: str, message: str) -> None:
        self.flow.ints[self.pos(node)] = (decision, message)
        self.flow.int_keys.add(key)

    # -- strings that travel -----------------------------------------------------------------
    def travelling(self) -> None:
        """Device strings and "nccl" bound to a name, a `self` attribute, a parameter default, a dataclass
        field or an argparse default, decided by every read of what they are bound to."""
        for scope, name, literal in self._literal_bindings():
            reads = self._reads_of(scope, name)
            self._decide(literal, reads, f"`{name}`", name)
        for call, _scope in self.calls:
            # `place(model, "cuda:0")` where `def place(module, slot): return module.to(slot)`
            if not isinstance(call.func, ast.Name) or call.func.id not in self.functions:
                continue
            arguments = [(arg, index, None) for index, arg in enumerate(call.args)]
            arguments += [(kw.value, None, kw.arg) for kw in call.keywords if kw.arg is not None]
            for value, index, word in arguments:
                if is_cuda_string(value) or _is_nccl(value):
                    backend = _is_nccl(value)
                    if self._passed(call, index, word, backend, 0) == "use":
                        (self.flow.backends if backend else self.flow.strings)[self.pos(value)] = (PORT, "")
        for cls, attr, literal in self._attribute_bindings():
            self._decide(literal, self._attribute_reads(cls, attr), f"`.{attr}`", attr)

    def _attribute_reads(self, cls: Optional[str], attr: str) -> List[ast.AST]:
        """Reads of ``.attr``; where a class ``cls`` holds it, ``self.attr`` in another class is another's."""
        return [
            node for node, scope in self.reads
            if isinstance(node, ast.Attribute) and node.attr == attr and (
                cls is None or not (isinstance(node.value, ast.Name) and node.value.id == "self")
                or self._class_of(scope) == cls)
        ]  # fmt: skip

    def _literal_bindings(self) -> Iterable[Tuple[_Scope, str, ast.AST]]:
        for scope in [self.root, *self.func_scope.values()]:
            for name, values in scope.bindings.items():
                for value in values:
                    literal = _literal(value)
                    if literal is not None:
                        yield scope, name, literal
            if scope is self.root:
                continue
            func = scope.node
            args = func.args  # type: ignore[attr-defined]
            positional = [*args.posonlyargs, *args.args]
            for param, default in zip(positional[len(positional) - len(args.defaults):], args.defaults):
                if _literal(default) is not None:
                    yield scope, param.arg, _literal(default)  # type: ignore[misc]
            for param, default in zip(args.kwonlyargs, args.kw_defaults):
                if default is not None and _literal(default) is not None:
                    yield scope, param.arg, _literal(default)  # type: ignore[misc]

    def _attribute_bindings(self) -> Iterable[Tuple[Optional[str], str, ast.AST]]:
        """(the class holding it, or None for an argparse option; the attribute; the literal)."""
        for (cls, attr), stores in self.self_attrs.items():
            for value, _scope in stores:
                literal = _literal(value)
                if literal is not None:
                    yield cls, attr, literal
        for name, node in self.classes.items():
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
                    literal = _literal(stmt.value)
                    if literal is not None:
                        yield name, stmt.target.id, literal
        for call, _scope in self.calls:
            if isinstance(call.func, ast.Attribute) and call.func.attr == "add_argument":
                dest, default = _argparse_dest(call), _keyword(call, "default")
                if dest is not None and default is not None and _literal(default) is not None:
                    yield None, dest, _literal(default)  # type: ignore[misc]

    def _reads_of(self, scope: _Scope, name: str) -> List[ast.AST]:
        out = []
        for node, where in self.reads:
            if isinstance(node, ast.Name) and node.id == name and self._lookup(where, name)[0] is scope:
                out.append(node)
        return out

    def _decide(self, literal: ast.AST, reads: List[ast.AST], holder: str, name: str = "") -> None:
        backend = _is_nccl(literal)
        used, other = 0, []
        for read in reads:
            use = self._use(read, backend)
            if use == "use":
                used += 1
            elif use != "neutral":
                other.append((read, use))
        table = self.flow.backends if backend else self.flow.strings
        pos = self.pos(literal)
        if not used:
            compared = next((read for read, use in other if use == "compared"), None)
            if backend and compared is not None and stored_backend_role(name) is not None:
                # `def __init__(self, backend="nccl")` ... `if self.backend == "nccl": ... elif == "mpi":`: the
                # project picks among names itself; another accelerator's name would match none of them.
                table[pos] = (REPORT, f"{holder} holds this backend name and is compared with names at line "
                              f"{compared.lineno}, a choice the code makes itself that another backend's name would "  # type: ignore[attr-defined]
                              "not match: left; port it by hand together with the branches that compare it")
            return
        if not other:
            table[pos] = (PORT, "")
            return
        read, use = other[0]
        what = "the backend" if backend else "a device"
        table[pos] = (REPORT, f"{holder} holds this string, used as {what} and also {use} at line {read.lineno} "  # type: ignore[attr-defined]
                      "(where a ported value would change what that does): port by hand")

    def _use(self, read: ast.AST, backend: bool, depth: int = 0) -> str:
        """"use" (a device, or the backend), "neutral" (printed), or what else it is ("compared", ...)."""
        parent = self.parents.get(id(read))
        if isinstance(parent, ast.Compare):
            # `backend == "nccl"` asks "on NCCL?", and stays as written: exact once the value is ported.
            if backend and all(_asks_nccl(op) for op in (parent.left, *parent.comparators) if op is not read):
                return "neutral"
            return "compared"
        if isinstance(parent, ast.FormattedValue):
            return "neutral"
        if isinstance(parent, ast.keyword) and parent.arg is not None:
            call = self.parents.get(id(parent))
            if isinstance(call, ast.Call):
                if _neutral_call(call):
                    return "neutral"
                if backend and self._backend_keyword(call, parent.arg):
                    return "use"
                if not backend and parent.arg in _DEVICE_KEYWORDS:
                    return "use"
                return self._passed(call, None, parent.arg, backend, depth)
            return "passed on"
        if isinstance(parent, ast.Call) and read is not parent.func:
            if _neutral_call(parent):
                return "neutral"
            index = parent.args.index(read) if read in parent.args else -1
            if backend and self._backend_position(parent, index):
                return "use"
            if not backend and index == 0 and self._device_first(parent):
                return "use"
            if not backend and index == 1 and (self.qname(parent.func) or "").endswith("from_group"):
                return "use"
            return self._passed(parent, index, None, backend, depth)
        if isinstance(parent, (ast.Assign, ast.AnnAssign)):
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            words = [_terminal(t) for t in targets]
            check = is_backend_key if backend else is_device_word
            if words and all(w is not None and check(w) for w in words):
                if backend and depth < 3 and self._holder_compared(read, targets, depth):
                    return "compared"
                return "use"
            return "stored"
        return "used otherwise"

    def _holder_compared(self, read: ast.AST, targets: List[ast.AST], depth: int) -> bool:
        """``self.backend = backend`` stores a backend in a holder named for one: whether the holder is then
        compared (with names the code picks among) where the module reads it."""
        if self._scope_of is None:
            self._scope_of = {id(node): scope for node, scope in self.reads}
        scope = self._scope_of.get(id(read))
        for target in targets:
            if isinstance(target, ast.Name):
                owner = self._lookup(scope, target.id)[0] if scope is not None else None
                reads = self._reads_of(owner, target.id) if owner is not None else []
            elif isinstance(target, ast.Attribute):
                mine = isinstance(target.value, ast.Name) and target.value.id == "self" and scope is not None
                reads = self._attribute_reads(self._class_of(scope) if mine else None, target.attr)  # type: ignore[arg-type]
            else:
                continue
            if any(self._use(r, True, depth + 1) == "compared" for r in reads):
                return True
        return False

    def _device_first(self, call: ast.Call) -> bool:
        func = call.func
        qname = self.qname(func) or ""
        tail = qname.rsplit(".", 1)[-1]
        if isinstance(func, ast.Attribute) and func.attr == "to":
            return True
        return qname in (_TORCH_DEVICE, "torch.autocast", "torch.amp.autocast") or (
            qname.startswith("torch.distributed") and tail in _MESH_FIRST)

    def _backend_position(self, call: ast.Call, index: int) -> bool:
        qname = self.qname(call.func) or ""
        if not qname.startswith(("torch.distributed.", "deepspeed.")):
            return False
        spec = _BACKEND_ARGS.get(qname.rsplit(".", 1)[-1])
        return spec is not None and spec[0] == index

    def _backend_keyword(self, call: ast.Call, word: str) -> bool:
        qname = self.qname(call.func) or ""
        if qname.startswith(("torch.distributed.", "deepspeed.")):
            spec = _BACKEND_ARGS.get(qname.rsplit(".", 1)[-1])
            if spec is not None and word in spec[1]:
                return True
        return isinstance(call.func, ast.Name) and call.func.id == "dict" and is_backend_key(word)

    def _passed(self, call: ast.Call, index: Optional[int], word: Optional[str], backend: bool, depth: int) -> str:
        """A read passed to a function the module defines: a use where that parameter is one."""
        func = self.functions.get(call.func.id) if isinstance(call.func, ast.Name) else None
        if func is None or depth > 3:
            return "passed on"
        scope = self.func_scope[id(func)]
        names = scope.params
        if word is None:
            if index is None or index < 0 or index >= len(names):
                return "passed on"
            word = names[index]
        elif word not in names:
            return "passed on"
        reads = self._reads_of(scope, word)
        uses = [self._use(r, backend, depth + 1) for r in reads]
        if uses and all(u in ("use", "neutral") for u in uses) and "use" in uses:
            return "use"
        return "passed on"

    # -- pin_memory defaults ---------------------------------------------------------------------
    def pin_defaults(self) -> None:
        """``def make_loader(..., pin_memory: bool = True)``: the default is the flag of the
        ``DataLoader(pin_memory=pin_memory)`` inside, ported where that is the parameter's only use."""
        for scope in self.func_scope.values():
            args = scope.node.args  # type: ignore[attr-defined]
            positional = [*args.posonlyargs, *args.args]
            pairs = [*zip(positional[len(positional) - len(args.defaults):], args.defaults),
                     *((p, d) for p, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None)]
            for param, default in pairs:
                if isinstance(default, ast.Constant) and default.value is True and "pin" in param.arg.lower():
                    self._pin_default(scope, param.arg, default)

    def _pin_default(self, scope: _Scope, name: str, default: ast.Constant) -> None:
        flags, other = [], []
        for read in self._reads_of(scope, name):
            parent = self.parents.get(id(read))
            call = self.parents.get(id(parent)) if isinstance(parent, ast.keyword) else None
            if isinstance(call, ast.Call) and parent.arg == "pin_memory" and self._pins(call):  # type: ignore[union-attr]
                flags.append(read)
            elif not isinstance(parent, ast.FormattedValue) and not (isinstance(parent, ast.Call) and _neutral_call(parent)):
                other.append(read)
        if not flags:
            return  # a flag of the code's own: nothing pins with it here
        if not other:
            self.flow.pins[self.pos(default)] = (PORT, "")
            return
        self.flow.pins[self.pos(default)] = (REPORT, (
            f"`{name}` defaults to True and reaches `pin_memory=` at line {flags[0].lineno} (pinning warns or raises "  # type: ignore[attr-defined]
            f"without an accelerator), but is also read otherwise at line {other[0].lineno}: default it to "  # type: ignore[attr-defined]
            '`get_accelerator().device_name() != "cpu"` by hand where that suits both uses'))

    def _pins(self, call: ast.Call) -> bool:
        """A DataLoader or a torch tensor factory: the calls whose ``pin_memory=True`` tensor-pin-memory ports."""
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        return name.endswith("DataLoader") or (self.qname(func) or "").startswith("torch.")

    # -- classes with their own cuda ------------------------------------------------------------
    def own_cuda(self) -> None:
        own = {name for name, cls in self.classes.items()
               if any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name in ("cuda", "to") for s in cls.body)}
        suspects = own | {name for name in self.relative if name[:1].isupper()} | set(self.foreign)
        if not suspects:
            return
        for call, scope in self.calls:
            func = call.func
            if not (isinstance(func, ast.Attribute) and func.attr == "cuda"):
                continue
            receiver = func.value
            made_by = self._made_by(receiver, scope)
            if made_by in suspects:
                where = ("defined in this module" if made_by in own else f"imported from `{self.foreign[made_by]}`"
                         if made_by in self.foreign else "imported from the project")
                self.flow.own_cuda[self.pos(call)] = (
                    f"`{_short(ast.unparse(receiver))}` is a `{made_by}` ({where}), which may define its own "
                    "`cuda`: port by hand (to `.to(get_accelerator().device_name())` only if it behaves like a tensor's)")
            elif made_by is None and own and not self._provably_torch(receiver, scope):
                self.flow.own_cuda[self.pos(call)] = (
                    f"`{_short(ast.unparse(receiver))}` may be an instance of {', '.join(sorted(own))}, which defines "
                    "its own `cuda`/`to`: port by hand with .to(get_accelerator().device_name()) where it is a tensor or module")

    def _made_by(self, node: ast.AST, scope: _Scope, depth: int = 0) -> Optional[str]:
        """The module's or project's class whose instance ``node`` provably is, else None."""
        if depth > 6:
            return None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            known = node.func.id in self.classes or node.func.id in self.relative or node.func.id in self.foreign
            return node.func.id if known else None
        if isinstance(node, ast.Name):
            if node.id == "self":
                return self._class_of(scope)
            owner, values = self._lookup(scope, node.id)
            made = {self._made_by(v, owner, depth + 1) for v in values if isinstance(v, ast.AST)} if owner else set()
            return made.pop() if len(made) == 1 else None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            cls = self._class_of(scope)
            stores = self.self_attrs.get((cls, node.attr), []) if cls else []
            made = {self._made_by(v, s, depth + 1) for v, s in stores if isinstance(v, ast.AST)}
            return made.pop() if len(made) == 1 else None
        return None

    def _provably_torch(self, node: ast.AST, scope: _Scope) -> bool:
        if isinstance(node, ast.Call):
            return (self.qname(node.func) or "").startswith("torch.")
        if isinstance(node, ast.Name):
            owner, values = self._lookup(scope, node.id)
            return bool(values) and all(isinstance(v, ast.AST) and self._provably_torch(v, owner) for v in values)  # type: ignore[arg-type]
        return False


def _iter_value(node: ast.AST) -> object:
    """What a loop target gets: an int from ``range(...)``, else unknown."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        return _INT
    return _UNKNOWN


def _argument(call: ast.Call, index: int, name: str) -> Optional[ast.AST]:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    if any(isinstance(a, ast.Starred) for a in call.args[: index + 1]):
        return None
    return call.args[index] if 0 <= index < len(call.args) else None


def _keyword(call: ast.Call, name: str) -> Optional[ast.AST]:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _argparse_dest(call: ast.Call) -> Optional[str]:
    dest = _keyword(call, "dest")
    if isinstance(dest, ast.Constant) and isinstance(dest.value, str):
        return dest.value
    for arg in call.args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("--"):
            return arg.value[2:].replace("-", "_")
    return None


def _literal(value: object) -> Optional[ast.AST]:
    """The CUDA device string or "nccl" a binding holds: itself, a `field(default=...)`, or the default of
    `os.environ.get(...)` / `os.getenv(...)`."""
    if not isinstance(value, ast.AST):
        return None
    if is_cuda_string(value) or _is_nccl(value):
        return value
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        inner: Optional[ast.AST] = None
        if name == "field":
            inner = _keyword(value, "default")
        elif name in ("get", "getenv") and len(value.args) == 2 and "environ" in ast.unparse(func) + "getenv":
            inner = value.args[1]
        if inner is not None and (is_cuda_string(inner) or _is_nccl(inner)):
            return inner
    return None


def _terminal(node: ast.AST) -> Optional[str]:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _key(node: ast.AST) -> Optional[str]:
    """The text the LibCST side checks before asking for a position (see ``Flow.int_keys``)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return str(node.value)
    if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
        return _terminal(node.func)
    if isinstance(node, ast.BinOp):
        return "<binop>"
    return None


def _neutral_call(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in _NEUTRAL_CALLS
    return isinstance(func, ast.Attribute) and func.attr in _LOG_METHODS


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def analyse(tree: ast.Module, lines: List[str]) -> Flow:
    analysis = _Analysis(tree, lines)
    analysis.collect()
    analysis.prepare()
    analysis.integer_devices()
    analysis.travelling()
    analysis.own_cuda()
    analysis.pin_defaults()
    return analysis.flow


NOTE = "travel"


def flow_of(ctx) -> Flow:
    """The module's analysis, worked out on the first call for a file (``ctx``: codemod.context.Context)."""
    found = ctx.notes.get(NOTE)
    if found is None:
        found = ctx.notes[NOTE] = _analyse_context(ctx)
    return found  # type: ignore[no-any-return]


def _analyse_context(ctx) -> Flow:
    try:
        return analyse(*whole_file(ctx.statements, ctx.module))
    except (SyntaxError, ValueError, RecursionError):
        return EMPTY


def position(ctx, node) -> Pos:
    """Where a LibCST node starts, as ``Flow`` keys it."""
    start = ctx.range_of(node).start
    return start.line, start.column


def verdict(ctx, rule, node, backend: bool = False) -> Optional[str]:
    """PORT where a CUDA string (``backend``: a "nccl") held in a name reaches a device (the backend) and
    nothing else; REPORT, reported for ``rule``, where it is also compared or passed elsewhere; else None."""
    table = flow_of(ctx).backends if backend else flow_of(ctx).strings
    if not table:
        return None  # most files: no position worked out
    decision = table.get(position(ctx, node))
    if decision is None:
        return None
    if decision[0] == REPORT:
        ctx.report(rule, node, decision[1])
    return decision[0]


def travels(ctx, rule, node, backend: bool = False) -> bool:
    """Whether a CUDA string (``backend``: a "nccl") with no role of its own reaches a device (the backend)
    and is to be ported; where it is also compared or passed elsewhere, ``rule`` reports it instead."""
    return verdict(ctx, rule, node, backend) == PORT
