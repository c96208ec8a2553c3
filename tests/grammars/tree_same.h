/* tree_same.h — when two tree-sitter trees count as the same, for the
 * tests that compare an incremental reparse with a full parse (test_gram_parse,
 * fuzz_gram). One definition for both.
 */
#ifndef SPARKD_TESTS_TREE_SAME_H
#define SPARKD_TESTS_TREE_SAME_H

#include <string.h>
#include <tree_sitter/api.h>

/* The next node in preorder (into n's children if descend), counting depth;
 * 0 at the end of the tree. */
static inline int tree_preorder_next(TSTreeCursor *c, unsigned *depth, int descend)
{
    if (descend && ts_tree_cursor_goto_first_child(c)) {
        ++*depth;
        return 1;
    }
    while (!ts_tree_cursor_goto_next_sibling(c)) {
        if (!ts_tree_cursor_goto_parent(c)) return 0;
        --*depth;
    }
    return 1;
}

/* The same, stepping over extras (comments) and everything under them. */
static inline int tree_next_real(TSTreeCursor *c, unsigned *depth, int descend)
{
    int more = tree_preorder_next(c, depth, descend);
    while (more && ts_node_is_extra(ts_tree_cursor_current_node(c))) more = tree_preorder_next(c, depth, 0);
    return more;
}

/* Compares two trees without recursion (deep input must not overflow the
 * stack), modulo where extras hang: after an edit, tree-sitter may attach a
 * trailing comment to the statement before it or to its parent (JavaScript
 * "x = f(a) // c" then a line, reparsed after a no-op edit at 0), both
 * error-free. So the check is on every other node, in preorder: the same
 * symbol, depth, field and missing flag, and for leaves the same bytes (a
 * node whose only children are comments is a leaf on the other side). */
static inline int tree_same(TSTree *a, TSTree *b)
{
    TSTreeCursor x = ts_tree_cursor_new(ts_tree_root_node(a));
    TSTreeCursor y = ts_tree_cursor_new(ts_tree_root_node(b));
    unsigned dx = 0, dy = 0;
    int same = 1, mx = 1, my = 1;
    while (mx && my) {
        TSNode m = ts_tree_cursor_current_node(&x), n = ts_tree_cursor_current_node(&y);
        const char *fm = ts_tree_cursor_current_field_name(&x);
        const char *fn = ts_tree_cursor_current_field_name(&y);
        int leaves = ts_node_child_count(m) == 0 && ts_node_child_count(n) == 0;
        if (dx != dy || ts_node_symbol(m) != ts_node_symbol(n) ||
            ts_node_is_missing(m) != ts_node_is_missing(n) || (fm == NULL) != (fn == NULL) ||
            (fm && strcmp(fm, fn) != 0) ||
            (leaves && (ts_node_start_byte(m) != ts_node_start_byte(n) ||
                        ts_node_end_byte(m) != ts_node_end_byte(n)))) {
            same = 0;
            break;
        }
        mx = tree_next_real(&x, &dx, 1);
        my = tree_next_real(&y, &dy, 1);
    }
    if (mx != my) same = 0;
    ts_tree_cursor_delete(&x);
    ts_tree_cursor_delete(&y);
    return same;
}

#endif
