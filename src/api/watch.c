/* watch.c placeholder */
typedef int weft__watch_unused;
