/*
 * compat.h -- the differences between the PostgreSQL versions recs builds on
 *
 * recs is written against PostgreSQL 15 and builds unchanged on 17; where
 * an API moved or was renamed in between, this header gives the code one
 * name for it, chosen by PG_VERSION_NUM.  Include it after postgres.h in the
 * files that use one of these names, and add a shim here rather than
 * version checks in the code.
 */
#ifndef RECS_COMPAT_H
#define RECS_COMPAT_H

#include "postgres.h"

#include "storage/proc.h"
#include "utils/acl.h"

#if PG_VERSION_NUM >= 160000
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#endif

/*
 * The current local transaction id of this backend: PostgreSQL 17 moved it
 * into MyProc->vxid with the backend's proc number.
 */
static inline LocalTransactionId
recs_current_lxid(void)
{
#if PG_VERSION_NUM >= 170000
	return MyProc->vxid.lxid;
#else
	return MyProc->lxid;
#endif
}

/*
 * PostgreSQL 16 folded the per-catalog ACL checks into object_aclcheck;
 * pg_class_aclcheck stayed, pg_namespace_aclcheck and pg_proc_aclcheck did
 * not.
 */
#if PG_VERSION_NUM >= 160000
#define pg_namespace_aclcheck(nspid, roleid, mode) \
	object_aclcheck(NamespaceRelationId, (nspid), (roleid), (mode))
#define pg_proc_aclcheck(procid, roleid, mode) \
	object_aclcheck(ProcedureRelationId, (procid), (roleid), (mode))
#endif

#endif							/* RECS_COMPAT_H */
