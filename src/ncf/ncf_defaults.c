/*
 * ncf_defaults.c -- train_ncf's loss 'auto' and epochs NULL
 *
 * Two of train_ncf's defaults depend on the data's size, known only once
 * the positives are counted (ncf_data_from_input, before the memory check,
 * which depends on the loss).  The binary loss wins on a few thousand
 * positives and the sampled softmax from a few hundred thousand on, at a
 * third of the CPU an epoch; the softmax's held-out Recall@10 peaks after
 * about 2 million positives and then falls, so large data need few epochs.
 * The thresholds and their measurements: ncf.h and docs/ncf.md, "Defaults
 * at scale".  recs._ncf_auto_config (ncf_train.c) shows the choice for any
 * size.
 */
#include "postgres.h"

#include "ncf.h"

void
ncf_auto_config(NcfConfig *cfg, int64 n_pos)
{
	if (cfg->loss_auto)
		cfg->loss = n_pos >= NCF_AUTO_SOFTMAX_POSITIVES ? NCF_LOSS_SOFTMAX : NCF_LOSS_BINARY;
	if (cfg->epochs_auto)
		cfg->epochs = cfg->loss == NCF_LOSS_SOFTMAX ?
			(int) Min((int64) NCF_DEFAULT_EPOCHS,
					  (NCF_SOFTMAX_EPOCH_POSITIVES + Max(n_pos, 1) - 1) / Max(n_pos, 1)) :
			NCF_DEFAULT_EPOCHS;
	if (cfg->loss_auto || cfg->epochs_auto)
		ereport(NOTICE,
				(errmsg_plural("train_ncf: %d epoch with loss '%s' for " INT64_FORMAT " positives",
							   "train_ncf: %d epochs with loss '%s' for " INT64_FORMAT " positives",
							   cfg->epochs,
							   cfg->epochs, cfg->loss == NCF_LOSS_SOFTMAX ? "softmax" : "binary", n_pos),
				 errdetail("%s%s",
						   cfg->loss_auto ? psprintf("loss 'auto' is the softmax from %d positives on. ",
													 NCF_AUTO_SOFTMAX_POSITIVES) : "",
						   cfg->epochs_auto ? psprintf("epochs NULL is %d with the binary loss and, with the softmax, the epochs of %d million positives.",
													   NCF_DEFAULT_EPOCHS, NCF_SOFTMAX_EPOCH_POSITIVES / 1000000) : "")));
}
