/* Pointer-heavy data structures on static pools: an AVL tree (insert,
 * delete, in-order walk), a singly linked list with merge sort, a binary
 * min-heap driving Dijkstra on a weighted grid, and BFS on a maze. */
#include "corpus.h"

/* ---- AVL tree ---- */

struct avl {
    int32_t key;
    uint32_t val;
    int8_t height;
    struct avl *l, *r;
};

#define AVL_POOL 600
static struct avl avl_pool[AVL_POOL];
static struct avl *avl_free;

static int h_of(struct avl *n) { return n ? n->height : 0; }

static void fix_height(struct avl *n)
{
    int a = h_of(n->l), b = h_of(n->r);
    n->height = (int8_t)((a > b ? a : b) + 1);
}

static struct avl *rot_right(struct avl *y)
{
    struct avl *x = y->l;
    y->l = x->r;
    x->r = y;
    fix_height(y);
    fix_height(x);
    return x;
}

static struct avl *rot_left(struct avl *x)
{
    struct avl *y = x->r;
    x->r = y->l;
    y->l = x;
    fix_height(x);
    fix_height(y);
    return y;
}

static struct avl *balance(struct avl *n)
{
    fix_height(n);
    int bf = h_of(n->l) - h_of(n->r);
    if (bf > 1) {
        if (h_of(n->l->l) < h_of(n->l->r))
            n->l = rot_left(n->l);
        return rot_right(n);
    }
    if (bf < -1) {
        if (h_of(n->r->r) < h_of(n->r->l))
            n->r = rot_right(n->r);
        return rot_left(n);
    }
    return n;
}

static struct avl *avl_insert(struct avl *n, int32_t key, uint32_t val)
{
    if (!n) {
        struct avl *m = avl_free;
        if (!m)
            return 0;
        avl_free = m->r;
        m->key = key;
        m->val = val;
        m->height = 1;
        m->l = m->r = 0;
        return m;
    }
    if (key < n->key)
        n->l = avl_insert(n->l, key, val);
    else if (key > n->key)
        n->r = avl_insert(n->r, key, val);
    else
        n->val = val;
    return balance(n);
}

static struct avl *avl_remove_min(struct avl *n, struct avl **min)
{
    if (!n->l) {
        *min = n;
        return n->r;
    }
    n->l = avl_remove_min(n->l, min);
    return balance(n);
}

static struct avl *avl_delete(struct avl *n, int32_t key)
{
    if (!n)
        return 0;
    if (key < n->key) {
        n->l = avl_delete(n->l, key);
    } else if (key > n->key) {
        n->r = avl_delete(n->r, key);
    } else {
        struct avl *l = n->l, *r = n->r;
        n->r = avl_free;          /* back to the pool */
        avl_free = n;
        if (!r)
            return l;
        struct avl *min;
        r = avl_remove_min(r, &min);
        min->l = l;
        min->r = r;
        return balance(min);
    }
    return balance(n);
}

static int avl_check(struct avl *n, int32_t lo, int32_t hi, uint32_t *count)
{
    if (!n)
        return 1;
    int bf = h_of(n->l) - h_of(n->r);
    (*count)++;
    return n->key > lo && n->key < hi && bf >= -1 && bf <= 1 &&
           avl_check(n->l, lo, n->key, count) && avl_check(n->r, n->key, hi, count);
}

static uint32_t avl_walk(struct avl *n, uint32_t h)
{
    /* iterative in-order walk with an explicit stack */
    struct avl *stack[32];
    int sp = 0;
    while (n || sp) {
        while (n) {
            stack[sp++] = n;
            n = n->l;
        }
        n = stack[--sp];
        h = mix32(h, (uint32_t)n->key ^ n->val);
        n = n->r;
    }
    return h;
}

/* ---- linked list merge sort ---- */

struct node {
    uint32_t v;
    struct node *next;
};

static struct node list_pool[400];

static struct node *list_merge(struct node *a, struct node *b)
{
    struct node head, *t = &head;
    while (a && b) {
        if (a->v <= b->v) {
            t->next = a;
            a = a->next;
        } else {
            t->next = b;
            b = b->next;
        }
        t = t->next;
    }
    t->next = a ? a : b;
    return head.next;
}

static struct node *list_sort(struct node *h)
{
    if (!h || !h->next)
        return h;
    struct node *slow = h, *fast = h->next;
    while (fast && fast->next) {
        slow = slow->next;
        fast = fast->next->next;
    }
    struct node *second = slow->next;
    slow->next = 0;
    return list_merge(list_sort(h), list_sort(second));
}

static struct node *list_reverse(struct node *h)
{
    struct node *prev = 0;
    while (h) {
        struct node *n = h->next;
        h->next = prev;
        prev = h;
        h = n;
    }
    return prev;
}

/* ---- Dijkstra with a binary heap on a W x H grid ---- */

#define W 24
#define H 16

struct hitem {
    uint32_t dist;
    uint16_t cell;
};

static struct hitem heap[W * H * 4];
static int heap_n;

static void heap_push(uint32_t dist, uint16_t cell)
{
    int i = heap_n++;
    while (i > 0 && heap[(i - 1) / 2].dist > dist) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i].dist = dist;
    heap[i].cell = cell;
}

static struct hitem heap_pop(void)
{
    struct hitem top = heap[0], last = heap[--heap_n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= heap_n)
            break;
        if (c + 1 < heap_n && heap[c + 1].dist < heap[c].dist)
            c++;
        if (heap[c].dist >= last.dist)
            break;
        heap[i] = heap[c];
        i = c;
    }
    heap[i] = last;
    return top;
}

static uint8_t cost[W * H];
static uint32_t dist[W * H];

static uint32_t dijkstra(int src, int dst)
{
    for (int i = 0; i < W * H; i++)
        dist[i] = 0xFFFFFFFFu;
    heap_n = 0;
    dist[src] = 0;
    heap_push(0, (uint16_t)src);
    static const int dx[4] = { 1, -1, 0, 0 }, dy[4] = { 0, 0, 1, -1 };
    while (heap_n) {
        struct hitem it = heap_pop();
        if (it.dist != dist[it.cell])
            continue;
        if (it.cell == dst)
            break;
        int x = it.cell % W, y = it.cell / W;
        for (int k = 0; k < 4; k++) {
            int nx = x + dx[k], ny = y + dy[k];
            if (nx < 0 || nx >= W || ny < 0 || ny >= H)
                continue;
            int nc = ny * W + nx;
            uint32_t nd = it.dist + cost[nc];
            if (nd < dist[nc]) {
                dist[nc] = nd;
                heap_push(nd, (uint16_t)nc);
            }
        }
    }
    return dist[dst];
}

/* BFS over cells with cost < 7 (walls otherwise); returns reachable count. */
static uint32_t bfs(int src, uint32_t *far)
{
    static uint16_t queue[W * H];
    static int16_t depth[W * H];
    for (int i = 0; i < W * H; i++)
        depth[i] = -1;
    int qh = 0, qt = 0;
    queue[qt++] = (uint16_t)src;
    depth[src] = 0;
    *far = 0;
    while (qh < qt) {
        int c = queue[qh++], x = c % W, y = c / W;
        int nbr[4] = { x + 1 < W ? c + 1 : -1, x > 0 ? c - 1 : -1, y + 1 < H ? c + W : -1, y > 0 ? c - W : -1 };
        for (int k = 0; k < 4; k++) {
            int n = nbr[k];
            if (n < 0 || depth[n] >= 0 || cost[n] >= 7)
                continue;
            depth[n] = (int16_t)(depth[c] + 1);
            if ((uint32_t)depth[n] > *far)
                *far = (uint32_t)depth[n];
            queue[qt++] = (uint16_t)n;
        }
    }
    return (uint32_t)qt;
}

uint32_t tree_selftest(void)
{
    uint32_t h = 0, bad = 0, s = 8086;

    avl_free = 0;
    for (int i = AVL_POOL - 1; i >= 0; i--) {
        avl_pool[i].r = avl_free;
        avl_free = &avl_pool[i];
    }
    struct avl *root = 0;
    for (int i = 0; i < 500; i++)
        root = avl_insert(root, (int32_t)(xs32(&s) % 2000) - 1000, (uint32_t)i);
    uint32_t count = 0;
    CHECK(avl_check(root, -0x7FFFFFFF - 1, 0x7FFFFFFF, &count));
    CHECK(root->height <= 13);
    h = mix32(h, count);
    for (int32_t k = -1000; k < 1000; k += 3)
        root = avl_delete(root, k);
    uint32_t count2 = 0;
    CHECK(avl_check(root, -0x7FFFFFFF - 1, 0x7FFFFFFF, &count2));
    CHECK(count2 < count);
    h = avl_walk(root, h);
    h = mix32(h, count2);

    struct node *list = 0;
    for (int i = 0; i < 400; i++) {
        list_pool[i].v = xs32(&s) % 10000;
        list_pool[i].next = list;
        list = &list_pool[i];
    }
    list = list_sort(list);
    uint32_t prev = 0, n = 0;
    for (struct node *p = list; p; p = p->next, n++) {
        CHECK(p->v >= prev);
        prev = p->v;
    }
    CHECK(n == 400);
    list = list_reverse(list);
    for (int i = 0; i < 10 && list; i++, list = list->next)
        h = mix32(h, list->v);

    for (int i = 0; i < W * H; i++)
        cost[i] = (uint8_t)(1 + xs32(&s) % 9);
    cost[0] = cost[W * H - 1] = 1;
    uint32_t d1 = dijkstra(0, W * H - 1), d2 = dijkstra(W * H - 1, 0);
    CHECK(d1 + cost[0] == d2 + cost[W * H - 1]);   /* symmetric up to endpoints */
    CHECK(d1 >= (W - 1 + H - 1) && d1 <= 9 * (W - 1 + H - 1));
    h = mix32(h, d1);
    h = mix32(h, dijkstra(5 * W + 3, 11 * W + 20));
    uint32_t far, reach = bfs(0, &far);
    h = mix32(h, reach * 1000 + far);
    return h ^ (bad << 20);
}
