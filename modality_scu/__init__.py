"""The retinal fundus imaging station: worklist query, Ophthalmic Photography images, MPPS, C-STORE and storage commitment."""
