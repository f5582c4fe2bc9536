/*
 * popularity.h -- the popularity-by-language model: its serving routines
 * (popularity_serve.c); popularity_train.c is its SQL entry
 */
#ifndef RECS_POPULARITY_H
#define RECS_POPULARITY_H

#include "postgres.h"

#include "serving.h"

extern const ServingKind popularity_kind;

#endif							/* RECS_POPULARITY_H */
