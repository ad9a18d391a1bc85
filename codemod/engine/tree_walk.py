"""Walk a LibCST tree without rebuilding it.

``CSTNode.visit`` rebuilds every node it passes through, even for a read-only visitor and even
where a transformer changes nothing; on a 200-line file that costs about as much as the parse.
These walks call the same ``on_visit``/``on_leave`` hooks, in the same lexical order, but read the
children straight from the node's fields and rebuild a node only when one of its children was
replaced. ``tests/test_fastwalk.py`` checks the child order against LibCST's own ``children``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional, Tuple, Type, Union

import libcst as cst

# The order LibCST's own ``_visit_and_replace_children`` visits each node's fields in (libcst 1.9),
# where it differs from the dataclass field order. Fields a later LibCST adds are walked after these.
_LEXICAL: Dict[str, Tuple[str, ...]] = {'AnnAssign': ('target', 'annotation', 'equal', 'value', 'semicolon'),
 'Annotation': ('whitespace_before_indicator', 'whitespace_after_indicator', 'annotation'),
 'Arg': ('whitespace_after_star', 'keyword', 'equal', 'value', 'comma', 'whitespace_after_arg'),
 'AsName': ('whitespace_before_as', 'name', 'whitespace_after_as'),
 'Assert': ('whitespace_after_assert', 'test', 'comma', 'msg', 'semicolon'),
 'Attribute': ('lpar', 'value', 'dot', 'attr', 'rpar'),
 'Await': ('lpar', 'whitespace_after_await', 'expression', 'rpar'),
 'BinaryOperation': ('lpar', 'left', 'operator', 'right', 'rpar'),
 'BooleanOperation': ('lpar', 'left', 'operator', 'right', 'rpar'),
 'Call': ('lpar', 'func', 'whitespace_after_func', 'whitespace_before_args', 'args', 'rpar'),
 'ClassDef': ('leading_lines',
              'decorators',
              'lines_after_decorators',
              'whitespace_after_class',
              'name',
              'whitespace_after_name',
              'type_parameters',
              'whitespace_after_type_parameters',
              'lpar',
              'bases',
              'keywords',
              'rpar',
              'whitespace_before_colon',
              'body'),
 'Comment': (),
 'CompFor': ('whitespace_before',
             'asynchronous',
             'whitespace_after_for',
             'target',
             'whitespace_before_in',
             'whitespace_after_in',
             'iter',
             'ifs',
             'inner_for_in'),
 'CompIf': ('whitespace_before', 'whitespace_before_test', 'test'),
 'Comparison': ('lpar', 'left', 'comparisons', 'rpar'),
 'ConcatenatedString': ('lpar', 'left', 'whitespace_between', 'right', 'rpar'),
 'Decorator': ('leading_lines', 'whitespace_after_at', 'decorator', 'trailing_whitespace'),
 'Dict': ('lpar', 'lbrace', 'elements', 'rbrace', 'rpar'),
 'DictComp': ('lpar',
              'lbrace',
              'key',
              'whitespace_before_colon',
              'whitespace_after_colon',
              'value',
              'for_in',
              'rbrace',
              'rpar'),
 'DictElement': ('key', 'whitespace_before_colon', 'whitespace_after_colon', 'value', 'comma'),
 'Else': ('leading_lines', 'whitespace_before_colon', 'body'),
 'EmptyLine': ('whitespace', 'comment', 'newline'),
 'ExceptHandler': ('leading_lines',
                   'whitespace_after_except',
                   'type',
                   'name',
                   'whitespace_before_colon',
                   'body'),
 'ExceptStarHandler': ('leading_lines',
                       'whitespace_after_except',
                       'whitespace_after_star',
                       'type',
                       'name',
                       'whitespace_before_colon',
                       'body'),
 'Finally': ('leading_lines', 'whitespace_before_colon', 'body'),
 'Float': ('lpar', 'rpar'),
 'For': ('leading_lines',
         'asynchronous',
         'whitespace_after_for',
         'target',
         'whitespace_before_in',
         'whitespace_after_in',
         'iter',
         'whitespace_before_colon',
         'body',
         'orelse'),
 'FormattedString': ('lpar', 'parts', 'rpar'),
 'FormattedStringExpression': ('whitespace_before_expression',
                               'expression',
                               'equal',
                               'whitespace_after_expression',
                               'format_spec'),
 'FormattedStringText': (),
 'From': ('whitespace_before_from', 'whitespace_after_from', 'item'),
 'FunctionDef': ('leading_lines',
                 'decorators',
                 'lines_after_decorators',
                 'asynchronous',
                 'whitespace_after_def',
                 'name',
                 'whitespace_after_name',
                 'type_parameters',
                 'whitespace_after_type_parameters',
                 'whitespace_before_params',
                 'params',
                 'returns',
                 'whitespace_before_colon',
                 'body'),
 'GeneratorExp': ('lpar', 'elt', 'for_in', 'rpar'),
 'Global': ('whitespace_after_global', 'names', 'semicolon'),
 'If': ('leading_lines', 'whitespace_before_test', 'test', 'whitespace_after_test', 'body', 'orelse'),
 'IfExp': ('lpar',
           'body',
           'whitespace_before_if',
           'whitespace_after_if',
           'test',
           'whitespace_before_else',
           'whitespace_after_else',
           'orelse',
           'rpar'),
 'Imaginary': ('lpar', 'rpar'),
 'Import': ('whitespace_after_import', 'names', 'semicolon'),
 'ImportFrom': ('whitespace_after_from',
                'relative',
                'module',
                'whitespace_before_import',
                'whitespace_after_import',
                'lpar',
                'names',
                'rpar',
                'semicolon'),
 'IndentedBlock': ('header', 'body', 'footer'),
 'Index': ('whitespace_after_star', 'value'),
 'Integer': ('lpar', 'rpar'),
 'Lambda': ('lpar', 'whitespace_after_lambda', 'params', 'colon', 'body', 'rpar'),
 'LazyImport': ('whitespace_after_lazy', 'whitespace_after_import', 'names', 'semicolon'),
 'LazyImportFrom': ('whitespace_after_lazy',
                    'whitespace_after_from',
                    'relative',
                    'module',
                    'whitespace_before_import',
                    'whitespace_after_import',
                    'lpar',
                    'names',
                    'rpar',
                    'semicolon'),
 'List': ('lpar', 'lbracket', 'elements', 'rbracket', 'rpar'),
 'ListComp': ('lpar', 'lbracket', 'elt', 'for_in', 'rbracket', 'rpar'),
 'Match': ('leading_lines',
           'whitespace_after_match',
           'subject',
           'whitespace_before_colon',
           'whitespace_after_colon',
           'cases',
           'footer'),
 'MatchAs': ('lpar', 'pattern', 'whitespace_before_as', 'whitespace_after_as', 'name', 'rpar'),
 'MatchCase': ('leading_lines',
               'whitespace_after_case',
               'pattern',
               'whitespace_before_if',
               'whitespace_after_if',
               'guard',
               'whitespace_before_colon',
               'body'),
 'MatchClass': ('lpar',
                'cls',
                'whitespace_after_cls',
                'whitespace_before_patterns',
                'patterns',
                'kwds',
                'whitespace_after_kwds',
                'rpar'),
 'MatchKeywordElement': ('key', 'whitespace_before_equal', 'whitespace_after_equal', 'pattern', 'comma'),
 'MatchList': ('lpar', 'lbracket', 'patterns', 'rbracket', 'rpar'),
 'MatchMapping': ('lpar',
                  'lbrace',
                  'elements',
                  'whitespace_before_rest',
                  'rest',
                  'trailing_comma',
                  'rbrace',
                  'rpar'),
 'MatchMappingElement': ('key', 'whitespace_before_colon', 'whitespace_after_colon', 'pattern', 'comma'),
 'MatchOr': ('lpar', 'patterns', 'rpar'),
 'MatchStar': ('whitespace_before_name', 'name', 'comma'),
 'MatchTuple': ('lpar', 'patterns', 'rpar'),
 'Module': ('header', 'body', 'footer'),
 'Name': ('lpar', 'rpar'),
 'NamedExpr': ('lpar', 'target', 'whitespace_before_walrus', 'whitespace_after_walrus', 'value', 'rpar'),
 'Newline': (),
 'Nonlocal': ('whitespace_after_nonlocal', 'names', 'semicolon'),
 'NotEqual': ('whitespace_before', 'whitespace_after'),
 'Param': ('whitespace_after_star',
           'name',
           'annotation',
           'equal',
           'default',
           'comma',
           'whitespace_after_param'),
 'Parameters': ('posonly_params', 'posonly_ind', 'params', 'star_arg', 'kwonly_params', 'star_kwarg'),
 'ParenthesizedWhitespace': ('first_line', 'empty_lines', 'last_line'),
 'Raise': ('whitespace_after_raise', 'exc', 'cause', 'semicolon'),
 'Return': ('whitespace_after_return', 'value', 'semicolon'),
 'Set': ('lpar', 'lbrace', 'elements', 'rbrace', 'rpar'),
 'SetComp': ('lpar', 'lbrace', 'elt', 'for_in', 'rbrace', 'rpar'),
 'SimpleStatementLine': ('leading_lines', 'body', 'trailing_whitespace'),
 'SimpleStatementSuite': ('leading_whitespace', 'body', 'trailing_whitespace'),
 'SimpleString': ('lpar', 'rpar'),
 'SimpleWhitespace': (),
 'Slice': ('lower', 'first_colon', 'upper', 'second_colon', 'step'),
 'StarredDictComp': ('lpar', 'lbrace', 'whitespace_before_value', 'value', 'for_in', 'rbrace', 'rpar'),
 'StarredDictElement': ('whitespace_before_value', 'value', 'comma'),
 'StarredElement': ('lpar', 'whitespace_before_value', 'value', 'rpar', 'comma'),
 'Subscript': ('lpar', 'value', 'whitespace_after_value', 'lbracket', 'slice', 'rbracket', 'rpar'),
 'TemplatedString': ('lpar', 'parts', 'rpar'),
 'TemplatedStringExpression': ('whitespace_before_expression',
                               'expression',
                               'equal',
                               'whitespace_after_expression',
                               'format_spec'),
 'TemplatedStringText': (),
 'Try': ('leading_lines', 'whitespace_before_colon', 'body', 'handlers', 'orelse', 'finalbody'),
 'TryStar': ('leading_lines', 'whitespace_before_colon', 'body', 'handlers', 'orelse', 'finalbody'),
 'Tuple': ('lpar', 'elements', 'rpar'),
 'TypeAlias': ('whitespace_after_type',
               'name',
               'whitespace_after_name',
               'type_parameters',
               'whitespace_after_type_parameters',
               'whitespace_after_equals',
               'value',
               'semicolon'),
 'TypeParam': ('param', 'equal', 'whitespace_after_star', 'default', 'comma'),
 'TypeParameters': ('lbracket', 'params', 'rbracket'),
 'TypeVar': ('name', 'colon', 'bound'),
 'UnaryOperation': ('lpar', 'operator', 'expression', 'rpar'),
 'While': ('leading_lines', 'whitespace_after_while', 'test', 'whitespace_before_colon', 'body', 'orelse'),
 'With': ('leading_lines',
          'asynchronous',
          'whitespace_after_with',
          'lpar',
          'items',
          'rpar',
          'whitespace_before_colon',
          'body'),
 'Yield': ('lpar', 'whitespace_after_yield', 'value', 'rpar')}  # fmt: skip

_ORDER: Dict[Type[cst.CSTNode], Tuple[str, ...]] = {}

# Layout nodes (whitespace, comments, brackets, commas, operators) hold nothing but layout, bind no
# name and take no role: about half of all nodes. The walks pass over them unless the visitor sets
# ``WALKS_LAYOUT`` (one that collects comments, say).
LAYOUT = (
    cst.BaseParenthesizableWhitespace, cst.TrailingWhitespace, cst.EmptyLine, cst.Newline, cst.Comment,
    cst.LeftParen, cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket, cst.LeftCurlyBrace,
    cst.RightCurlyBrace, cst.Comma, cst.Dot, cst.Colon, cst.Semicolon, cst.AssignEqual, cst.BaseBinaryOp,
    cst.BaseBooleanOp, cst.BaseCompOp, cst.BaseUnaryOp, cst.BaseAugOp,
)  # fmt: skip

# type -> what a walk does with a value of it: skip it (not a node), walk it, or walk it only when
# layout is wanted. ``isinstance`` against LibCST's ABC-based classes is slow in a hot loop.
_SKIP, _WALK, _LAYOUT = 0, 1, 2
_KIND: Dict[type, int] = {tuple: _SKIP, list: _SKIP, str: _SKIP, type(None): _SKIP}


def _kind(value: object) -> int:
    kind = type(value)
    found = _KIND.get(kind)
    if found is None:
        found = _KIND[kind] = (_LAYOUT if issubclass(kind, LAYOUT) else _WALK) if issubclass(kind, cst.CSTNode) else _SKIP
    return found


def _is_node(value: object) -> bool:
    return _kind(value) != _SKIP


def _order(node_type: Type[cst.CSTNode]) -> Tuple[str, ...]:
    order = _ORDER.get(node_type)
    if order is None:
        names = tuple(f.name for f in dataclasses.fields(node_type))
        lexical = _LEXICAL.get(node_type.__name__, ())
        order = tuple(n for n in lexical if n in names) + tuple(n for n in names if n not in lexical)
        _ORDER[node_type] = order
    return order


def children(node: cst.CSTNode) -> list:
    """The node's children in lexical order (what ``node.children`` returns, without rebuilding)."""
    out = []
    for name in _order(type(node)):
        value = getattr(node, name)
        if _is_node(value):
            out.append(value)
        elif isinstance(value, (tuple, list)):
            out.extend(v for v in value if _is_node(v))
    return out


def visit(node: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    """``node.visit(visitor)`` for a read-only visitor, without rebuilding the tree; layout nodes are
    passed over unless ``visitor.WALKS_LAYOUT``."""
    _visit(node, visitor.on_visit, visitor.on_leave, _LAYOUT if getattr(visitor, "WALKS_LAYOUT", False) else _WALK)


def _visit(node: cst.CSTNode, on_visit, on_leave, deepest: int) -> None:
    if on_visit(node):
        kinds = _KIND
        order = _ORDER.get(type(node)) or _order(type(node))
        for name in order:
            value = getattr(node, name)
            kind = type(value)
            if kind is tuple or kind is list:
                for item in value:
                    found = kinds.get(type(item))
                    if found is None:
                        found = _kind(item)
                    if found and found <= deepest:
                        _visit(item, on_visit, on_leave, deepest)
            else:
                found = kinds.get(kind)
                if found is None:
                    found = _kind(value)
                if found and found <= deepest:
                    _visit(value, on_visit, on_leave, deepest)
    on_leave(node)


class Visitor(cst.CSTVisitor):
    """A ``CSTVisitor`` whose ``visit_<Node>``/``leave_<Node>`` hooks are looked up once per node type
    (LibCST formats the method name and calls ``getattr`` for every node)."""

    def on_visit(self, node: cst.CSTNode) -> bool:
        hook = _hook(type(self), type(node), "visit_")
        return hook is None or hook(self, node) is not False

    def on_leave(self, original_node: cst.CSTNode) -> None:
        hook = _hook(type(self), type(original_node), "leave_")
        if hook is not None:
            hook(self, original_node)


_HOOKS: Dict[Tuple[type, type, str], Optional[Callable]] = {}


def _hook(visitor: type, node: type, prefix: str) -> Optional[Callable]:
    key = (visitor, node, prefix)
    try:
        return _HOOKS[key]
    except KeyError:
        found = _HOOKS[key] = getattr(visitor, prefix + node.__name__, None)
        return found


Result = Union[cst.CSTNode, cst.RemovalSentinel, cst.FlattenSentinel]


def transform(node: cst.CSTNode, transformer: cst.CSTTransformer) -> Result:
    """``node.visit(transformer)``; a node none of whose children changed is passed on as itself.
    Layout nodes are passed on untouched unless ``transformer.WALKS_LAYOUT``."""
    deepest = _LAYOUT if getattr(transformer, "WALKS_LAYOUT", False) else _WALK
    return _transform(node, transformer.on_visit, transformer.on_leave, deepest)


def _transform(node: cst.CSTNode, on_visit, on_leave, deepest: int) -> Result:
    updated = node
    if on_visit(node):
        changes = None
        kinds = _KIND
        order = _ORDER.get(type(node)) or _order(type(node))
        for name in order:
            value = getattr(node, name)
            kind = type(value)
            if kind is tuple or kind is list:
                items = None
                for index, item in enumerate(value):
                    found = kinds.get(type(item))
                    if found is None:
                        found = _kind(item)
                    if not found or found > deepest:
                        if items is not None:
                            items.append(item)
                        continue
                    new = _transform(item, on_visit, on_leave, deepest)
                    if new is item and items is None:
                        continue
                    if items is None:
                        items = list(value[:index])
                    if isinstance(new, cst.FlattenSentinel):
                        items.extend(new.nodes)
                    elif not isinstance(new, cst.RemovalSentinel):
                        items.append(new)
                if items is not None:
                    if changes is None:
                        changes = {}
                    changes[name] = tuple(items)
            else:
                found = kinds.get(kind)
                if found is None:
                    found = _kind(value)
                if not found or found > deepest:
                    continue
                new = _transform(value, on_visit, on_leave, deepest)
                if new is not value:
                    if isinstance(new, cst.RemovalSentinel):
                        new = cst.MaybeSentinel.DEFAULT
                    if changes is None:
                        changes = {}
                    changes[name] = new
        if changes is not None:
            updated = node.with_changes(**changes)
    return on_leave(node, updated)
