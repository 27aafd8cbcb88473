"""Job processing: the queue that runs jobs and the steps that process an uploaded video."""
